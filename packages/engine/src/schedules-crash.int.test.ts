import { waitUntil } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleRunKey } from './cron.js';
import type { ScheduleDefinition } from './schedules.js';
import { crashWorkflow } from './testing/crash-workflow.js';
import { createTestEngine, createWorkerProcesses, type TestEngine } from './testing/index.js';

/** Every second; a node killed mid-pass delays the next claim by less than the 10 missed ticks caught up. */
const everySecond: ScheduleDefinition = {
  id: 'crash.every-second',
  cron: '* * * * * *',
  workflow: crashWorkflow.name,
  input: { steps: 1, chunks: 1, chunkMs: 0 },
  catchUp: 10,
};

/** Node processes this file started, so none outlives it. */
const nodes = createWorkerProcesses();

/** An engine node as its own process, declaring the schedule; resolves once its worker and scheduler run. */
const startNode = (t: TestEngine, instanceId: string) =>
  nodes.start(t, { instanceId, env: { SCHEDULES: JSON.stringify([everySecond]), SCHEDULE_POLL_MS: '200' } });

describe('a schedule across three nodes, one SIGKILLed around a tick (real clock)', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await createTestEngine({ backend: 'redis', workflows: [crashWorkflow], schedules: [everySecond], schedulePollMs: 200 });
  });
  afterAll(async () => {
    await nodes.killAll();
    await t?.close();
  });

  const firedTicks = async () => {
    const { runs } = await t.runtime.runs.list({ workflow: crashWorkflow.name, limit: 200 });
    return runs.map((run) => run.idempotencyKey!).sort();
  };

  it('starts one run for every tick, none missed and none twice', { timeout: 120_000 }, async () => {
    const [x] = await Promise.all([startNode(t, 'sched-crash-X'), startNode(t, 'sched-crash-Y')]);
    const fired = (count: number) =>
      waitUntil(t.runtime, async () => ((await firedTicks()).length >= count ? true : undefined), `${count} ticks fired`, {
        timeoutMs: 60_000,
        recheckMs: 100,
      });
    await fired((await firedTicks()).length + 2);
    // Right as a tick's run appears: the next tick is under a second away, and X may be mid-claim.
    await nodes.kill(x!);
    const afterKill = (await firedTicks()).length;
    await fired(afterKill + 3);

    // Every second from the first tick fired to the last: exactly one run each.
    const keys = await firedTicks();
    const first = new Date(keys[0]!.slice('schedule:crash.every-second:'.length));
    const last = new Date(keys.at(-1)!.slice('schedule:crash.every-second:'.length));
    const expected = Array.from({ length: (last.getTime() - first.getTime()) / 1000 + 1 }, (_, i) =>
      scheduleRunKey(everySecond.id, new Date(first.getTime() + i * 1000)),
    );
    expect(keys).toEqual(expected);
  });
});
