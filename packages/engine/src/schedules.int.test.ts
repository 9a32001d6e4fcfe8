import { ManualClock, ScheduleNotFoundError, ValidationError } from '@runstream/domain';
import { waitUntil } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleRunKey } from './cron.js';
import { defineSchedule } from './schedules.js';
import { createTestEngine, joinTestEngine, oneStepWorkflow, type PeerEngine, type TestEngine } from './testing/index.js';

const ticked = oneStepWorkflow('test.ticked');
const start = Date.UTC(2030, 0, 1, 0, 0, 0, 500);
const tick = (secondsAfterStart: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, secondsAfterStart));
const ticksOf = (id: string, seconds: number[]) => seconds.map((s) => scheduleRunKey(id, tick(s)));

// The clock only moves when a test advances it (all nodes share it), so ticks come when the test says. Leases
// and instance heartbeats are measured on it too: long enough that a jump of a minute expires neither.
const nodeConfig = { workflows: [ticked], leaseMs: 3_600_000, instanceStaleMs: 3_600_000, schedulePollMs: 50 } as const;

// Schedules race nothing on the queue (they start runs the way startRun does), so one backend covers them.
describe('schedules across three nodes', () => {
  const clock = new ManualClock(start);
  let t: TestEngine;
  let b: PeerEngine;
  let c: PeerEngine;
  beforeAll(async () => {
    t = await createTestEngine({ backend: 'redis', clock, ...nodeConfig, instanceId: 'sched-A' });
    b = await joinTestEngine(t, { ...nodeConfig, instanceId: 'sched-B' });
    c = await joinTestEngine(t, { ...nodeConfig, instanceId: 'sched-C' });
  });
  afterAll(async () => {
    await c?.close();
    await b?.close();
    await t?.close();
  });

  /** Whole seconds from 2030-01-01T00:00:00Z to the clock. */
  const secondsNow = () => Math.floor((clock.now().getTime() - Date.UTC(2030, 0, 1)) / 1000);
  const runFor = (key: string) => t.runtime.runs.getByIdempotencyKey(key);
  const existing = async (keys: string[]) => (await Promise.all(keys.map(runFor))).filter((run) => run !== null);
  /**
   * Resolves once the schedule's due ticks were fired: `next_fire_at` moves past now in the transaction after its
   * runs were created. (A node's own `fireDueSchedules()` is no barrier: it skips a schedule another node's loop
   * holds mid-pass.)
   */
  const fired = (id: string) =>
    waitUntil(
      t.runtime,
      async () => {
        const { nextFireAt } = await t.engine.getSchedule(id);
        return nextFireAt && nextFireAt > clock.now() ? true : undefined;
      },
      `schedule ${id} to fire its due ticks`,
      { recheckMs: 50 },
    );
  const waitForRun = (key: string) =>
    waitUntil(t.runtime, async () => (await runFor(key)) ?? undefined, `the run of ${key}`, { recheckMs: 50 });

  it('starts exactly one run per tick while nodes race, and while one closes and one dies mid-tick', { timeout: 60_000 }, async () => {
    const created = await t.engine.createSchedule({ id: 'every-10s', cron: '*/10 * * * * *', workflow: ticked.name, input: {} });
    expect(created.nextFireAt).toEqual(tick(10));

    // Tick 10: all three loops race for it; every node also makes a pass of its own at once.
    clock.advance(10_000);
    await Promise.all([t.engine.fireDueSchedules(), b.engine.fireDueSchedules(), c.engine.fireDueSchedules()]);
    await waitForRun(ticksOf('every-10s', [10])[0]!);

    // Tick 20: node C shuts down while the tick is due; the others carry on.
    clock.advance(10_000);
    await Promise.all([c.close(), t.engine.fireDueSchedules(), b.engine.fireDueSchedules()]);
    await waitForRun(ticksOf('every-10s', [20])[0]!);

    // Tick 30: a node claims the schedule, starts the tick's run and dies before its transaction commits (the
    // claim rolls back, `next_fire_at` stays at the tick). It reads tick 30 as due a moment before the shared clock
    // gets there, so the running loops cannot beat it to the claim. The survivors then fire the same tick: the key
    // makes it one run.
    const crashed = new Error('node died before commit');
    await expect(
      t.runtime.store.schedules.claimDue({ now: tick(30), workflows: [ticked.name], limit: 1 }, async (schedule) => {
        expect(schedule.nextFireAt).toEqual(tick(30));
        await t.engine.startRun({ workflow: schedule.workflow, input: schedule.input, idempotencyKey: scheduleRunKey(schedule.id, tick(30)) });
        throw crashed;
      }),
    ).rejects.toBe(crashed);
    expect((await t.engine.getSchedule('every-10s')).nextFireAt).toEqual(tick(30));
    clock.advance(10_000);
    await Promise.all([t.engine.fireDueSchedules(), b.engine.fireDueSchedules()]);
    await fired('every-10s');
    expect((await t.engine.getSchedule('every-10s')).nextFireAt).toEqual(tick(40));

    const all = await t.runtime.runs.list({ workflow: ticked.name, limit: 200 });
    expect(all.runs.map((run) => run.idempotencyKey).sort()).toEqual(ticksOf('every-10s', [10, 20, 30]));
    expect((await t.engine.getSchedule('every-10s')).lastFireAt).toEqual(tick(30));
    await t.engine.deleteSchedule('every-10s');
  });

  it('after downtime skips missed ticks, or catches up N of them, per the schedule', async () => {
    const base = secondsNow(); // on a tick: every test moves the clock by whole ticks
    await t.engine.createSchedule({ id: 'skipper', cron: '*/10 * * * * *', workflow: ticked.name, input: {}, catchUp: 'skip' });
    await t.engine.createSchedule({ id: 'catcher', cron: '*/10 * * * * *', workflow: ticked.name, input: {}, catchUp: 2 });
    expect((await t.engine.getSchedule('catcher')).catchUp).toBe(2);
    expect((await t.engine.getSchedule('skipper')).catchUp).toBe('skip');

    // Nobody fires for a minute: ticks base+10 … base+60 are due at once.
    clock.advance(60_000);
    await Promise.all([t.engine.fireDueSchedules(), b.engine.fireDueSchedules()]);
    await Promise.all([fired('skipper'), fired('catcher')]);
    const seconds = [10, 20, 30, 40, 50, 60].map((s) => base + s);
    expect((await existing(ticksOf('skipper', seconds))).map((run) => run.idempotencyKey)).toEqual(ticksOf('skipper', seconds.slice(5)));
    expect((await existing(ticksOf('catcher', seconds))).map((run) => run.idempotencyKey)).toEqual(ticksOf('catcher', seconds.slice(3)));
    expect((await t.engine.getSchedule('catcher')).nextFireAt).toEqual(tick(base + 70));
    await t.engine.deleteSchedule('skipper');
    await t.engine.deleteSchedule('catcher');
  });

  it('pauses, resumes from the next tick, and deletes', async () => {
    const base = secondsNow();
    await t.engine.createSchedule({ id: 'pausable', cron: '*/10 * * * * *', workflow: ticked.name, input: {}, catchUp: 5 });
    const paused = await t.engine.pauseSchedule('pausable');
    expect(paused).toMatchObject({ enabled: false, nextFireAt: null, nextFireTimes: [] });

    clock.advance(20_000);
    await t.engine.fireDueSchedules();
    expect(await existing(ticksOf('pausable', [base + 10, base + 20]))).toEqual([]);

    // Ticks passed while paused are not caught up on resume, whatever the policy.
    const resumed = await t.engine.resumeSchedule('pausable');
    expect(resumed.nextFireAt).toEqual(tick(base + 30));
    clock.advance(10_000);
    await fired('pausable');
    expect((await existing(ticksOf('pausable', [base + 10, base + 20, base + 30]))).map((run) => run.idempotencyKey)).toEqual(
      ticksOf('pausable', [base + 30]),
    );

    await t.engine.deleteSchedule('pausable');
    await expect(t.engine.getSchedule('pausable')).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(t.engine.pauseSchedule('pausable')).rejects.toBeInstanceOf(ScheduleNotFoundError);
    clock.advance(10_000);
    await t.engine.fireDueSchedules();
    expect(await existing(ticksOf('pausable', [base + 40]))).toEqual([]);
  });

  it('lists the next 5 fire times in the schedule’s timezone, across a DST change', async () => {
    const view = await t.engine.createSchedule({
      id: 'paris-mornings',
      cron: '30 9 * * 1-5',
      timezone: 'Europe/Paris',
      workflow: ticked.name,
      input: {},
      enabled: false,
    });
    expect(view.nextFireTimes).toEqual([]);
    const later = new ManualClock(Date.UTC(2030, 2, 29, 0, 0)); // Friday 29 March 2030; DST starts on the 31st
    clock.advance(later.now().getTime() - clock.now().getTime());
    const resumed = await t.engine.resumeSchedule('paris-mornings');
    expect(resumed.nextFireTimes.map((at) => at.toISOString())).toEqual([
      '2030-03-29T08:30:00.000Z',
      '2030-04-01T07:30:00.000Z',
      '2030-04-02T07:30:00.000Z',
      '2030-04-03T07:30:00.000Z',
      '2030-04-04T07:30:00.000Z',
    ]);
    expect((await t.engine.listSchedules()).map((schedule) => schedule.id)).toContain('paris-mornings');
    await t.engine.deleteSchedule('paris-mornings');
  });

  it('refuses a bad cron, timezone, workflow or input naming the field, and creates nothing', async () => {
    const field = async (promise: Promise<unknown>) => {
      const error = await promise.then(() => null, (caught: unknown) => caught);
      return (error as { field?: string } | null)?.field;
    };
    const spec = { id: 'bad', cron: '*/10 * * * * *', workflow: ticked.name, input: {} };
    expect(await field(t.engine.createSchedule({ ...spec, cron: '61 * * * *' }))).toBe('cron');
    expect(await field(t.engine.createSchedule({ ...spec, cron: 'every day' }))).toBe('cron');
    expect(await field(t.engine.createSchedule({ ...spec, timezone: 'Mars/Olympus' }))).toBe('timezone');
    expect(await field(t.engine.createSchedule({ ...spec, workflow: 'test.nope' }))).toBe('workflow');
    expect(await field(t.engine.createSchedule({ ...spec, input: 'not an object' }))).toBe('input');
    expect(() => defineSchedule({ ...spec, timezone: 'Nowhere/City' })).toThrow(ValidationError);
    expect((await t.engine.listSchedules()).map((schedule) => schedule.id)).not.toContain('bad');
  });
});

describe('schedules declared in code', () => {
  const clock = new ManualClock(start);
  let t: TestEngine;
  afterAll(() => t?.close());
  beforeAll(async () => {
    t = await createTestEngine({
      backend: 'redis',
      clock,
      ...nodeConfig,
      schedules: [defineSchedule({ id: 'code.nightly', cron: '0 2 * * *', timezone: 'America/New_York', workflow: ticked.name, input: {} })],
    });
  });

  it('are upserted when the worker starts; a restart keeps a pause made through the API', async () => {
    const first = await t.engine.getSchedule('code.nightly');
    expect(first).toMatchObject({ source: 'code', enabled: true, nextFireAt: new Date('2030-01-01T07:00:00.000Z') });
    await t.engine.pauseSchedule('code.nightly');

    const restarted = await joinTestEngine(t, {
      ...nodeConfig,
      schedules: [defineSchedule({ id: 'code.nightly', cron: '0 3 * * *', timezone: 'America/New_York', workflow: ticked.name, input: {} })],
    });
    try {
      expect(await t.engine.getSchedule('code.nightly')).toMatchObject({ cron: '0 3 * * *', enabled: false, nextFireTimes: [] });
    } finally {
      await restarted.close();
    }
  });
});
