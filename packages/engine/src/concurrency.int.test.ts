import type { RunEvent } from '@runstream/domain';
import { testBackends, waitForStatus } from '@runstream/testkit';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, joinTestEngine, type PeerEngine, type TestEngine } from './testing/index.js';
import { startedBy } from './testing/facts.js';
import { defineWorkflow } from './workflow.js';

const LIMIT = 2;
const RUNS = 8;

/** Steps of the limited workflow in flight right now, across both engines (they share this process). */
const inFlight = { now: 0, max: 0 };

const limited = defineWorkflow({
  name: 'test.limited',
  input: z.object({ ms: z.number().int() }),
  concurrency: LIMIT,
  async run(ctx, { ms }) {
    return ctx.step('work', async ({ signal }) => {
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      try {
        await delay(ms, undefined, { signal });
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

  it(`runs at most ${LIMIT} executions of a workflow at once across two workers`, { timeout: 120_000 }, async () => {
    inFlight.max = 0;
    const runs = await Promise.all(
      Array.from({ length: RUNS }, () => t.engine.startRun({ workflow: limited.name, input: { ms: 200 } })),
    );
    const done = await Promise.all(runs.map(({ run }) => waitForStatus(t.runtime, run.id, undefined, { timeoutMs: 60_000 })));
    expect(done.map((run) => run.status)).toEqual(done.map(() => 'succeeded'));

    expect(inFlight.now).toBe(0);
    expect(inFlight.max).toBeLessThanOrEqual(LIMIT);
    const logs = await Promise.all(done.map((run) => t.runtime.eventLog.read(run.id)));
    expect(maxOverlap(logs)).toBeLessThanOrEqual(LIMIT);
    // The limit throttles; it does not serialize (and each run executed once).
    expect(inFlight.max).toBe(LIMIT);
    for (const events of logs) expect(startedBy(events)).toHaveLength(1);
  });
});
