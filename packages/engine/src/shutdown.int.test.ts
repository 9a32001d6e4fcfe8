import { testBackends, waitForEvent, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { leaseOf } from '@runstream/store/testing';
import { createTestEngine, joinTestEngine, type PeerEngine, type TestEngine } from './testing/index.js';
import { gate, outline, startedBy, type Gate } from './testing/facts.js';
import { defineWorkflow } from './workflow.js';

const LEASE_MS = 60_000;

/** Step `one` of each run waits for the test; every step invocation is counted. */
const held = new Map<string, Gate>();
const heldFor = (runId: string) => {
  if (!held.has(runId)) held.set(runId, gate());
  return held.get(runId)!;
};
const invocations = new Map<string, string[]>();

const threeSteps = defineWorkflow({
  name: 'test.shutdown',
  input: z.object({}),
  async run(ctx) {
    const ran = (step: string) => invocations.set(ctx.runId, [...(invocations.get(ctx.runId) ?? []), step]);
    const one = await ctx.step('one', async () => {
      ran('one');
      await heldFor(ctx.runId).enter();
      return 1;
    });
    const two = await ctx.step('two', async () => (ran('two'), 2));
    const three = await ctx.step('three', async () => (ran('three'), 3));
    return one + two + three;
  },
});

describe.each(testBackends)('graceful shutdown on %s', (backend) => {
  let t: TestEngine;
  const peers: PeerEngine[] = [];
  beforeAll(async () => {
    t = await createTestEngine({ backend, worker: false, workflows: [threeSteps] });
  });
  afterAll(async () => {
    for (const peer of peers) await peer.close();
    await t?.close();
  });

  it('finishes the step in flight, starts no other, and hands the run off to another worker at once', async () => {
    // Neither lease expiry (60 s) nor a sweep (60 s) can move the run during this test: only the handoff can.
    const config = { workflows: [threeSteps], leaseMs: LEASE_MS, sweepIntervalMs: 60_000, shutdownGraceMs: 60_000 };
    const a = await joinTestEngine(t, { ...config, instanceId: `shutdown-A-${backend}` });
    peers.push(a);
    const { run } = await t.engine.startRun({ workflow: threeSteps.name, input: {} });
    await waitForEvent(t.runtime, run.id, 'step.started');
    await heldFor(run.id).entered;
    expect((await leaseOf(t.runtime.store, run.id)).owner).toBe(`shutdown-A-${backend}`);

    // Shut A down while step `one` is in flight; the step then finishes.
    const closing = a.close();
    heldFor(run.id).open();
    await closing;

    // A recorded the step it was running, started no other, and gave the lease up.
    expect(outline(await t.runtime.eventLog.read(run.id))).toEqual([
      'run.created',
      'run.started',
      'step.started:one#1',
      'step.completed:one#1',
    ]);
    expect((await t.runtime.runs.get(run.id))!.status).toBe('running');
    expect(await leaseOf(t.runtime.store, run.id)).toMatchObject({ owner: null, expiresAt: null });
    expect((await t.queue.counts()).waiting).toBe(1); // the handoff job

    // B starts on the same namespace and resumes the run from the handoff job, long before any lease expiry.
    const b = await joinTestEngine(t, { ...config, instanceId: `shutdown-B-${backend}` });
    peers.push(b);
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toBe(6);

    const events = await t.runtime.eventLog.read(run.id);
    expect(startedBy(events)).toEqual([`shutdown-A-${backend}`, `shutdown-B-${backend}`]);
    expect(outline(events)).toEqual([
      'run.created',
      'run.started',
      'step.started:one#1',
      'step.completed:one#1',
      'run.started',
      'step.started:two#1',
      'step.completed:two#1',
      'step.started:three#1',
      'step.completed:three#1',
      'run.succeeded',
    ]);
    // No step ran twice: B replayed `one` from the log.
    expect(invocations.get(run.id)).toEqual(['one', 'two', 'three']);
  });
});
