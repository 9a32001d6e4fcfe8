import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from './errors.js';
import { chunkKey, eventTypes, parseEvent, runEventSchema, storedEventSchema } from './events.js';

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('parseEvent: valid events', () => {
  it.each([
    { type: 'run.created', data: { workflow: 'wf', input: { a: [1, 'two', null, true] } } },
    { type: 'run.created', data: { workflow: 'wf', input: null, workflowVersion: 'v2' } },
    { type: 'run.started', data: { attempt: 1, workerId: 'worker-1' } },
    { type: 'run.output', data: { data: 'tick', step: 'fetch' } },
    { type: 'run.sleeping', data: { name: 'nap', until: '2030-01-01T00:00:00+02:00' } },
    { type: 'run.cancel_requested', data: {} },
    { type: 'run.succeeded', data: { output: [1, 2, 3] } },
    { type: 'run.failed', data: { error: { name: 'TypeError', message: 'x is undefined', code: 'E1' } } },
    { type: 'run.cancelled', data: { reason: 'user' } },
    { type: 'run.retried', data: {} },
    { type: 'step.started', data: { step: 's', attempt: 3 } },
    { type: 'step.chunk', data: { step: 's', attempt: 1, index: 0, data: 'token' } },
    { type: 'step.completed', data: { step: 's', attempt: 1, durationMs: 0, output: { ok: true } } },
    {
      type: 'step.failed',
      data: {
        step: 's',
        attempt: 2,
        durationMs: 12.5,
        error: { name: 'Error', message: 'boom', stack: 'at x' },
        retryAt: '2030-01-01T00:00:05.000Z',
      },
    },
  ])('accepts $type', (event) => {
    expect(parseEvent(event)).toEqual(event);
  });

  it('knows the event types it validates', () => {
    expect(eventTypes).toEqual(expect.arrayContaining(['run.created', 'run.started', 'step.chunk', 'step.failed']));
  });

  it('keeps a key and omits an absent one', () => {
    const withKey = parseEvent({ type: 'run.output', data: { data: 1 }, key: 'k1' });
    expect(withKey).toEqual({ type: 'run.output', data: { data: 1 }, key: 'k1' });
    const withoutKey = parseEvent({ type: 'run.output', data: { data: 1 } });
    expect(Object.keys(withoutKey)).toEqual(['type', 'data']);
  });

  it('strips unknown fields from the envelope and the data', () => {
    const parsed = parseEvent({ type: 'run.retried', data: { reason: 'again', extra: 1 }, seq: 7 });
    expect(parsed).toEqual({ type: 'run.retried', data: { reason: 'again' } });
  });
});

describe('parseEvent: invalid events name the exact field', () => {
  it.each([
    ['an unknown type', { type: 'run.exploded', data: {} }, 'event.type'],
    ['a missing type', { data: {} }, 'event.type'],
    ['an empty key', { type: 'run.retried', data: {}, key: '' }, 'event.key'],
    ['an over-long key', { type: 'run.retried', data: {}, key: 'k'.repeat(301) }, 'event.key'],
    ['missing data', { type: 'run.retried' }, 'event.data'],
    ['a zero attempt', { type: 'step.started', data: { step: 's', attempt: 0 } }, 'event.data.attempt'],
    ['a fractional attempt', { type: 'run.started', data: { attempt: 1.5, workerId: 'w' } }, 'event.data.attempt'],
    ['an empty workerId', { type: 'run.started', data: { attempt: 1, workerId: '' } }, 'event.data.workerId'],
    ['an empty workflow', { type: 'run.created', data: { workflow: '', input: 1 } }, 'event.data.workflow'],
    ['an empty step name', { type: 'step.started', data: { step: '', attempt: 1 } }, 'event.data.step'],
    [
      'an error without a message',
      { type: 'run.failed', data: { error: { name: 'Error' } } },
      'event.data.error.message',
    ],
    ['a non-ISO until', { type: 'run.sleeping', data: { name: 'nap', until: 'tomorrow' } }, 'event.data.until'],
    [
      'a negative chunk index',
      { type: 'step.chunk', data: { step: 's', attempt: 1, index: -1, data: 'x' } },
      'event.data.index',
    ],
    [
      'a negative duration',
      { type: 'step.completed', data: { step: 's', attempt: 1, durationMs: -1, output: null } },
      'event.data.durationMs',
    ],
    [
      'output that is not JSON',
      { type: 'run.succeeded', data: { output: () => 1 } },
      'event.data.output',
    ],
  ])('rejects %s', (_label, event, field) => {
    const error = validationError(() => parseEvent(event));
    expect(error.field).toBe(field);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues[0].field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });

  it('uses the prefix to locate the event in the caller input', () => {
    const error = validationError(() =>
      parseEvent({ type: 'step.started', data: { step: 'a', attempt: 0 } }, 'events[1]'),
    );
    expect(error.field).toBe('events[1].data.attempt');
  });

  it('names nested fields inside data under the prefix', () => {
    const event = { type: 'step.failed', data: { step: 's', attempt: 1, durationMs: 1, error: { name: 1, message: 'm' } } };
    const error = validationError(() => parseEvent(event, 'events[4]'));
    expect(error.field).toBe('events[4].data.error.name');
  });

  it('rejects something that is not an object at the prefix itself', () => {
    expect(validationError(() => parseEvent('run.started', 'events[0]')).field).toBe('events[0]');
    expect(validationError(() => parseEvent(null)).field).toBe('event');
  });
});

describe('chunkKey', () => {
  it('is built from step, attempt and index', () => {
    expect(chunkKey('summarize', 2, 17)).toBe('chunk:summarize:2:17');
  });

  it('differs when any part differs and is stable otherwise', () => {
    const keys = new Set([chunkKey('s', 1, 0), chunkKey('s', 1, 1), chunkKey('s', 2, 0), chunkKey('t', 1, 0)]);
    expect(keys.size).toBe(4);
    expect(chunkKey('s', 1, 0)).toBe(chunkKey('s', 1, 0));
  });
});

describe('stored event schemas', () => {
  const stored = { runId: 'r', seq: 3, createdAt: new Date(0) };

  it('checks each event’s data against its own type’s schema', () => {
    const chunk = { ...stored, type: 'step.chunk', data: { step: 's', attempt: 1, index: 0, data: 'x' } };
    expect(runEventSchema.parse(chunk)).toEqual(chunk);
    expect(runEventSchema.safeParse({ ...chunk, type: 'step.completed' }).success).toBe(false);
    expect(runEventSchema.safeParse({ ...chunk, type: 'run.unknown' }).success).toBe(false);
  });

  it('adds the extra fields to every variant', () => {
    const feedEvent = storedEventSchema({ cursor: z.string() });
    const retried = { ...stored, type: 'run.retried', data: {} };
    expect(feedEvent.safeParse(retried).success).toBe(false);
    expect(feedEvent.parse({ ...retried, cursor: 'c' })).toEqual({ ...retried, cursor: 'c' });
  });
});
