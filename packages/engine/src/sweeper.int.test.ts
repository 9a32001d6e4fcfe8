import { createBullQueue, type JobQueue, type RunJob } from '@runstream/queue';
import { expireLease } from '@runstream/store/testing';
import { testBackends, waitForStatus } from '@runstream/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestEngine, joinTestEngine, type PeerEngine, type TestEngine } from './testing/index.js';
import { gate, outline, startedBy } from './testing/facts.js';
import { oneStepWorkflow } from './testing/one-step-workflow.js';

const oneStep = oneStepWorkflow('test.sweeper');

describe.each(testBackends)('the sweeper on %s, when a job is lost with the worker that took it', (backend) => {
  let t: TestEngine;
  const cleanup: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    t = await createTestEngine({ backend, worker: false, workflows: [oneStep] });
  });
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  afterAll(() => t?.close());

  /**
   * A node that takes jobs and never runs them (hung, or dead with its job still active): it holds each job it
   * took, so a sweep under the same job id is absorbed by a job that will never run.
   */
  async function startBlackHole(concurrency: number) {
    const taken: RunJob[] = [];
    const waiters: Array<() => void> = [];
    const release = gate();
    const queue: JobQueue = createBullQueue({ namespace: t.runtime.namespace, connection: t.connection });
    await queue.startWorker(async (job) => {
      taken.push(job);
      for (const wake of waiters.splice(0)) wake();
      await release.promise;
    }, concurrency);
    cleanup.push(async () => {
      release.open();
      await queue.close();
    });
    return {
      /** Resolves once the black hole holds `count` jobs. */
      async holding(count: number): Promise<RunJob[]> {
        while (taken.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
        return taken.slice(0, count);
      },
    };
  }

  async function startHealthyNode(instanceId: string): Promise<PeerEngine> {
    const peer = await joinTestEngine(t, { workflows: [oneStep], instanceId, sweepIntervalMs: 200 });
    cleanup.push(() => peer.close());
    return peer;
  }

  it('still recovers an expired lease whose recovery job a dead worker holds', { timeout: 90_000 }, async () => {
    const blackHole = await startBlackHole(2);
    const { run } = await t.engine.startRun({ workflow: oneStep.name, input: {} });
    await blackHole.holding(1);

    // A worker took the lease, started the step and died; its lease has run out.
    const ghost = `ghost-${backend}`;
    const lease = await t.runtime.store.leases.acquire(run.id, ghost, { leaseMs: 60_000 });
    if (lease.kind !== 'acquired') throw new Error(`expected the lease, got ${lease.kind}`);
    const fence = { token: lease.token };
    await t.runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: ghost } }], { fence });
    await t.runtime.eventLog.append(run.id, [{ type: 'step.started', data: { step: 'only', attempt: 1 } }], { fence });
    await expireLease(t.runtime.store, run.id);

    // A sweep dispatches the recovery; the black hole takes that job too and sits on it.
    expect(await t.engine.sweep()).toBe(1);
    expect((await blackHole.holding(2))[1]).toEqual({ runId: run.id, reason: 'recover' });

    const healthy = `healthy-recover-${backend}`;
    await startHealthyNode(healthy);
    const done = await waitForStatus(t.runtime, run.id, undefined, { timeoutMs: 60_000 });
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ attempt: 2 });
    const events = await t.runtime.eventLog.read(run.id);
    expect(startedBy(events)).toEqual([ghost, healthy]);
    expect(outline(events)).toEqual([
      'run.created',
      'run.started',
      'step.started:only#1',
      'run.started',
      'step.started:only#2',
      'step.completed:only#2',
      'run.succeeded',
    ]);
  });

  it('still recovers a queued run whose start job a dead worker holds', { timeout: 90_000 }, async () => {
    const blackHole = await startBlackHole(1);
    const { run } = await t.engine.startRun({ workflow: oneStep.name, input: {} });
    expect(await blackHole.holding(1)).toEqual([{ runId: run.id, reason: 'start' }]);

    const healthy = `healthy-queued-${backend}`;
    await startHealthyNode(healthy);
    const done = await waitForStatus(t.runtime, run.id, undefined, { timeoutMs: 60_000 });
    expect(done.status).toBe('succeeded');
    const events = await t.runtime.eventLog.read(run.id);
    expect(startedBy(events)).toEqual([healthy]);
  });
});
