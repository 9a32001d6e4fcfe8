import { LeaseLostError } from '@runstream/domain';
import type { EventLog } from '@runstream/store';
import { createBullQueue } from '@runstream/queue';
import { createRuntime } from '@runstream/runtime';
import { createTestRuntime, type TestRuntime } from '@runstream/runtime/testing';
import { testBackends, waitForEvent, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, joinTestEngine, type PeerEngine, type TestEngine } from './testing/index.js';
import { createEngine, type Engine } from './engine.js';
import { expireLease, leaseOf } from '@runstream/store/testing';
import { gate, outline, startedBy, type Gate } from './testing/facts.js';
import { defineWorkflow } from './workflow.js';

/** Attempt 1 of each run's `work` step waits for the test; later attempts go straight through. */
const held = new Map<string, Gate>();
const heldFor = (runId: string) => {
  if (!held.has(runId)) held.set(runId, gate());
  return held.get(runId)!;
};

const stalling = defineWorkflow({
  name: 'test.zombie',
  input: z.object({}),
  async run(ctx) {
    const work = await ctx.step('work', async ({ attempt }) => {
      if (attempt === 1) await heldFor(ctx.runId).enter();
      return { attempt };
    });
    const after = await ctx.step('after', async () => 'after');
    return { work, after };
  },
});

interface AppendCall {
  types: string[];
  outcome: 'ok' | 'lease-lost' | 'error';
}

describe.each(testBackends)('a zombie execution on %s', (backend) => {
  let t: TestEngine;
  let a: { engine: Engine; appends: AppendCall[]; leaseLost: Promise<void>; close(): Promise<void> } | null = null;
  let b: PeerEngine | null = null;

  beforeAll(async () => {
    t = await createTestEngine({ backend, worker: false, workflows: [stalling] });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await t?.close();
  });

  /**
   * Engine A: one job at a time (so while it stalls, only B can take the run over), a lease so long its heartbeat
   * never fires during the test (it is a stalled process: its lease runs out without it noticing), and every
   * append it makes recorded.
   */
  async function startEngineA() {
    const runtime = await createRuntime({ namespace: t.runtime.namespace, databaseUrl: t.runtime.database.url });
    const appends: AppendCall[] = [];
    let onLeaseLost!: () => void;
    const leaseLost = new Promise<void>((resolve) => (onLeaseLost = resolve));
    const eventLog: EventLog = {
      ...runtime.eventLog,
      async append(runId, events, options) {
        const call: AppendCall = { types: events.map((event) => (event as { type: string }).type), outcome: 'ok' };
        appends.push(call);
        try {
          return await runtime.eventLog.append(runId, events, options);
        } catch (error) {
          call.outcome = error instanceof LeaseLostError ? 'lease-lost' : 'error';
          if (error instanceof LeaseLostError) onLeaseLost();
          throw error;
        }
      },
    };
    const engine = createEngine({
      runtime: { ...runtime, eventLog },
      queue: createBullQueue({ namespace: t.runtime.namespace, connection: t.connection }),
      workflows: [stalling],
      instanceId: `zombie-A-${backend}`,
      concurrency: 1,
      leaseMs: 600_000,
      sweepIntervalMs: 600_000,
    });
    runtime.start();
    await engine.startWorker();
    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= (async () => {
        await engine.close();
        await runtime.close();
      })());
    a = { engine, appends, leaseLost, close };
    return a;
  }

  it('cannot append once its lease expired and another worker took the run over', async () => {
    const engineA = await startEngineA();
    const { run } = await t.engine.startRun({ workflow: stalling.name, input: {} });
    await waitForEvent(t.runtime, run.id, 'step.started');
    await heldFor(run.id).entered;
    expect((await leaseOf(t.runtime.store, run.id)).owner).toBe(`zombie-A-${backend}`);

    // A stalls past its lease (a GC pause, a partition): the lease expires without A hearing of it.
    await expireLease(t.runtime.store, run.id);

    // B joins; its sweeper finds the expired lease and B takes the run over and finishes it.
    b = await joinTestEngine(t, { workflows: [stalling], instanceId: `zombie-B-${backend}`, sweepIntervalMs: 200 });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ work: { attempt: 2 }, after: 'after' });
    const settled = await t.runtime.eventLog.read(run.id);

    // A wakes up and finishes its step: its append is refused, and nothing of A's reaches the log.
    heldFor(run.id).open();
    await engineA.leaseLost;
    await engineA.close(); // waits for A's execution to unwind completely
    expect(engineA.appends).toEqual([
      { types: ['run.started'], outcome: 'ok' },
      { types: ['step.started'], outcome: 'ok' },
      { types: ['step.completed'], outcome: 'lease-lost' },
    ]);

    const events = await t.runtime.eventLog.read(run.id);
    expect(events).toEqual(settled);
    expect(startedBy(events)).toEqual([`zombie-A-${backend}`, `zombie-B-${backend}`]);
    expect(outline(events)).toEqual([
      'run.created',
      'run.started',
      'step.started:work#1',
      'run.started',
      'step.started:work#2',
      'step.completed:work#2',
      'step.started:after#1',
      'step.completed:after#1',
      'run.succeeded',
    ]);
    expect((await t.runtime.runs.get(run.id))!).toMatchObject({ status: 'succeeded', lastSeq: events.length });
    expect((await leaseOf(t.runtime.store, run.id)).owner).toBeNull();
  });
});

describe('fenced appends', () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await createTestRuntime();
  });
  afterAll(() => runtime?.close());

  it('refuse a write under a lease token that was taken over, and keep accepting the new holder', async () => {
    const leases = runtime.store.leases;
    const { run } = await runtime.runs.create({ workflow: 'test.fence', input: {} });

    const first = await leases.acquire(run.id, 'worker-a', { leaseMs: 60_000 });
    if (first.kind !== 'acquired') throw new Error(`expected the lease, got ${first.kind}`);
    expect(await leases.acquire(run.id, 'worker-b', { leaseMs: 60_000 })).toEqual({ kind: 'held' });
    await runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'worker-a' } }], {
      fence: { token: first.token },
    });

    await expireLease(runtime.store, run.id);
    const second = await leases.acquire(run.id, 'worker-b', { leaseMs: 60_000 });
    if (second.kind !== 'acquired') throw new Error(`expected the lease, got ${second.kind}`);
    expect(second.token).toBeGreaterThan(first.token);

    const stale = runtime.eventLog.append(run.id, [{ type: 'step.started', data: { step: 'x', attempt: 1 } }], {
      fence: { token: first.token },
    });
    await expect(stale).rejects.toBeInstanceOf(LeaseLostError);
    await expect(stale).rejects.toMatchObject({ code: 'LEASE_LOST', runId: run.id, fencingToken: first.token });
    // The old holder can neither extend nor give away the new holder's lease.
    expect(await leases.renew(run.id, first.token, 60_000)).toBe(false);
    await leases.release(run.id, first.token);
    expect((await runtime.runs.get(run.id))!.lastSeq).toBe(2);
    expect(await leaseOf(runtime.store, run.id)).toMatchObject({ owner: 'worker-b', token: second.token });

    await runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 2, workerId: 'worker-b' } }], {
      fence: { token: second.token },
    });
    // Once released, even the last holder's token writes nothing.
    await leases.release(run.id, second.token);
    await expect(
      runtime.eventLog.append(run.id, [{ type: 'step.started', data: { step: 'x', attempt: 1 } }], {
        fence: { token: second.token },
      }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    expect(outline(await runtime.eventLog.read(run.id))).toEqual(['run.created', 'run.started', 'run.started']);
  });
});
