import { ValidationError } from '@runstream/domain';
import { describe, expect, it } from 'vitest';
import { dueTicks, fireTimesAfter, parseCron, scheduleRunKey } from './cron.js';

const at = (iso: string) => new Date(iso);
const isoOf = (dates: Date[]) => dates.map((date) => date.toISOString());

describe('cron', () => {
  it('reads five fields, or six with seconds, in a timezone', () => {
    expect(isoOf(fireTimesAfter(parseCron('0 9 * * *', 'America/New_York'), at('2030-01-01T00:00:00Z'), 2))).toEqual([
      '2030-01-01T14:00:00.000Z',
      '2030-01-02T14:00:00.000Z',
    ]);
    expect(isoOf(fireTimesAfter(parseCron('*/15 * * * * *', 'UTC'), at('2030-01-01T00:00:01Z'), 2))).toEqual([
      '2030-01-01T00:00:15.000Z',
      '2030-01-01T00:00:30.000Z',
    ]);
  });

  it.each([
    ['61 * * * *', 'UTC', 'cron'],
    ['* * *', 'UTC', 'cron'],
    ['0 0 30 2 *', 'UTC', 'cron'],
    ['* * * * *', 'Mars/Olympus', 'timezone'],
  ])('refuses %s in %s naming %s', (cron, timezone, field) => {
    let thrown: unknown;
    try {
      parseCron(cron, timezone);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).field).toBe(field);
  });

  it('fires the latest due tick and up to catchUp missed ones, oldest first, never before the first unstarted tick', () => {
    const everyMinute = parseCron('* * * * *', 'UTC');
    const first = at('2030-01-01T00:01:00Z');
    const now = at('2030-01-01T00:05:30Z');
    expect(isoOf(dueTicks(everyMinute, first, now, 0).ticks)).toEqual(['2030-01-01T00:05:00.000Z']);
    expect(isoOf(dueTicks(everyMinute, first, now, 2).ticks)).toEqual([
      '2030-01-01T00:03:00.000Z',
      '2030-01-01T00:04:00.000Z',
      '2030-01-01T00:05:00.000Z',
    ]);
    expect(dueTicks(everyMinute, first, now, 100).ticks).toHaveLength(5);
    expect(dueTicks(everyMinute, first, now, 0).next).toEqual(at('2030-01-01T00:06:00Z'));
    // A tick exactly at `now` is due.
    expect(isoOf(dueTicks(everyMinute, first, at('2030-01-01T00:01:00Z'), 0).ticks)).toEqual(['2030-01-01T00:01:00.000Z']);
  });

  it('keys a tick’s run by schedule and tick instant', () => {
    expect(scheduleRunKey('nightly', at('2030-01-01T02:00:00+01:00'))).toBe('schedule:nightly:2030-01-01T01:00:00.000Z');
  });
});
