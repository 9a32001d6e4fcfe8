import { testBackends, waitForStatus, waitUntil } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, gate, joinTestEngine, startedBy, type Gate, type PeerEngine, type TestEngine } from './testing/index.js';
import { defineWorkflow } from './workflow.js';

const PER_KEY = 2;

describe.each(testBackends)('keyed concurrency on %s', (backend) => {
  /** The latch every execution waits on inside its step, so the runs holding the limit stay in it. */
  let latch: Gate;
  /** Executions inside the step right now, per customer, and the most seen at once (both engines share this process). */
  const inStep = new Map<string, { now: number; max: number }>();

  const perCustomer = defineWorkflow({
    name: `test.per-customer-${backend}`,
    input: z.object({ customerId: z.string() }),
    keyConcurrency: { key: (input) => input.customerId, limit: PER_KEY },
    async run(ctx, { customerId }) {
      return ctx.step('work', async () => {
        const count = inStep.get(customerId) ?? { now: 0, max: 0 };
        inStep.set(customerId, count);
        count.max = Math.max(count.max, ++count.now);
        try {
          await latch.enter();
        } finally {
          count.now--;
        }
        return customerId;
      });
    },
  });

  let t: TestEngine;
  let peer: PeerEngine | null = null;
  // Node A executes one run at a time: once it holds the first acme run, the others can only go to node B.
  beforeAll(async () => {
    t = await createTestEngine({ backend, workflows: [perCustomer], concurrency: 1, instanceId: `keyed-A-${backend}` });
  });
  afterAll(async () => {
    latch?.open();
    await peer?.close();
    await t?.close();
  });

  it(`holds a third run of one key queued (throttled, visibly) while ${PER_KEY} execute, one on each node; other keys run`, { timeout: 120_000 }, async () => {
    latch = gate();
    inStep.clear();
    const start = (customerId: string) => t.engine.startRun({ workflow: perCustomer.name, input: { customerId } });
    const inStepNow = (customerId: string) => inStep.get(customerId)?.now ?? 0;
    const described = () => `in step: ${JSON.stringify([...inStep])}`;

    // The first acme run executes on node A (the only node yet) and stays in the latch.
    const acme1 = await start('acme');
    expect(acme1.run.concurrencyKey).toBe('acme');
    await waitUntil(t.runtime, async () => (inStepNow('acme') === 1 ? true : undefined), described, { timeoutMs: 60_000 });

    // Node B joins; A is full, so B executes the second acme run and must refuse the third, counting A's lease.
    peer = await joinTestEngine(t, { workflows: [perCustomer], concurrency: 8, instanceId: `keyed-B-${backend}` });
    const rest = [await start('acme'), await start('acme'), await start('globex')];
    const first = [acme1, ...rest];
    await waitUntil(
      t.runtime,
      async () => (inStepNow('acme') === PER_KEY && inStepNow('globex') === 1 ? true : undefined),
      () => `two acme runs and one globex run in their step (${described()})`,
      { timeoutMs: 60_000 },
    );
    // The third acme run tried to take its lease, was refused, and says why while it stays queued.
    const waiting = await waitUntil(
      t.runtime,
      async () => {
        const runs = await Promise.all(first.slice(0, 3).map(({ run }) => t.runtime.runs.get(run.id)));
        return runs.find((run) => run?.status === 'queued' && run.waitingReason !== null) ?? undefined;
      },
      'an acme run queued with a waiting reason',
      { timeoutMs: 60_000 },
    );
    expect(waiting.waitingReason).toMatch(/^throttled: key acme has 2 of 2 runs executing/);
    expect(inStep.get('acme')!.now).toBe(PER_KEY);

    // Another acme run, cancelled while it waits: a finished run no longer says it waits.
    const extra = await start('acme');
    await waitUntil(
      t.runtime,
      async () => ((await t.runtime.runs.get(extra.run.id))?.waitingReason ? true : undefined),
      'the extra acme run to be throttled',
      { timeoutMs: 60_000 },
    );
    expect(await t.engine.cancelRun(extra.run.id)).toMatchObject({ status: 'cancelled', waitingReason: null });

    latch.open();
    const done = await Promise.all(first.map(({ run }) => waitForStatus(t.runtime, run.id, undefined, { timeoutMs: 60_000 })));
    expect(done.map((run) => run.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(inStep.get('acme')!.max).toBe(PER_KEY);
    // Once leased, the reason is gone.
    expect((await t.runtime.runs.get(waiting.id))!.waitingReason).toBeNull();
    const workers = await Promise.all(first.map(async ({ run }) => startedBy(await t.runtime.eventLog.read(run.id))));
    expect(workers.map((started) => started.length)).toEqual([1, 1, 1, 1]);
    expect(workers[0]).toEqual([`keyed-A-${backend}`]);
  });
});
