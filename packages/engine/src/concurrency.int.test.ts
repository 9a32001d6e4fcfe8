import type { RunEvent } from '@runstream/domain';
import { testBackends, waitForStatus, waitUntil } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, joinTestEngine, type PeerEngine, type TestEngine } from './testing/index.js';
import { gate, startedBy, type Gate } from './testing/facts.js';
import { defineWorkflow } from './workflow.js';

const LIMIT = 2;
const RUNS = 8;

/** Steps of the limited workflow in flight right now, across both engines (they share this process). */
const inFlight = { now: 0, max: 0 };
/**
 * The latch: the first steps wait on `release`, which the test opens only after `LIMIT` of them are in flight at
 * once (`full`), so the executions overlap by construction, however slowly the machine schedules them.
 */
let latch: { full: Gate; release: Gate };

const limited = defineWorkflow({
  name: 'test.limited',
  input: z.object({}),
  concurrency: LIMIT,
  async run(ctx) {
    return ctx.step('work', async () => {
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      try {
        if (inFlight.now === LIMIT) latch.full.open();
        await latch.release.promise;
      } finally {
        inFlight.now--;
      }
      return 'done';
    });
  },
});

/** Most executions (run.started .. terminal event, per the log's timestamps) overlapping at any instant. */
function maxOverlap(logs: RunEvent[][]): number {
  const edges: Array<{ at: number; delta: number }> = [];
  for (const events of logs) {
    let start: number | null = null;
    for (const event of events) {
      if (event.type === 'run.started') start = event.createdAt.getTime();
      if (start !== null && (event.type === 'run.succeeded' || event.type === 'run.failed')) {
        edges.push({ at: start, delta: 1 }, { at: event.createdAt.getTime(), delta: -1 });
        start = null;
      }
    }
  }
  // An execution ending at the instant another starts does not overlap it: ends sort first.
  edges.sort((x, y) => x.at - y.at || x.delta - y.delta);
  let now = 0;
  let max = 0;
  for (const { delta } of edges) max = Math.max(max, (now += delta));
  return max;
}

describe.each(testBackends)('per-workflow concurrency on %s', (backend) => {
  let t: TestEngine;
  let peer: PeerEngine | null = null;
  beforeAll(async () => {
    t = await createTestEngine({ backend, workflows: [limited], concurrency: 8, instanceId: `limit-A-${backend}` });
    peer = await joinTestEngine(t, { workflows: [limited], concurrency: 8, instanceId: `limit-B-${backend}` });
  });
  afterAll(async () => {
    await peer?.close();
    await t?.close();
  });

  it(`runs at most ${LIMIT} executions of a workflow at once across two workers`, async () => {
    inFlight.max = 0;
    latch = { full: gate(), release: gate() };
    const runs = await Promise.all(Array.from({ length: RUNS }, () => t.engine.startRun({ workflow: limited.name, input: {} })));

    // The limit throttles; it does not serialize: two executions are in flight together (or this never resolves).
    await latch.full.promise;
    // While both are held, a third is turned away (re-queued with a delay) rather than run beside them.
    await waitUntil(
      t.runtime,
      async () => ((await t.queue.counts()).delayed > 0 ? true : undefined),
      'a third run to be throttled while two are in flight',
      { recheckMs: 100 },
    );
    expect(inFlight.now).toBe(LIMIT);
    const statuses = await Promise.all(runs.map(async ({ run }) => (await t.runtime.runs.get(run.id))!.status));
    expect(statuses.filter((status) => status === 'running')).toHaveLength(LIMIT);
    latch.release.open();

    const done = await Promise.all(runs.map(({ run }) => waitForStatus(t.runtime, run.id)));
    expect(done.map((run) => run.status)).toEqual(done.map(() => 'succeeded'));

    expect(inFlight.now).toBe(0);
    expect(inFlight.max).toBe(LIMIT);
    const logs = await Promise.all(done.map((run) => t.runtime.eventLog.read(run.id)));
    expect(maxOverlap(logs)).toBeLessThanOrEqual(LIMIT);
    // Each run executed once.
    for (const events of logs) expect(startedBy(events)).toHaveLength(1);
  });
});
