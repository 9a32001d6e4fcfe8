import { type RunEvent } from '@runstream/domain';
import { testBackends, waitForEvent, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childWorkflow, createTestEngine, parentWorkflow, signalWorkflow, type TestEngine } from './testing/index.js';

const ofType = <T extends RunEvent['type']>(events: RunEvent[], type: T) =>
  events.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);

describe.each(testBackends)('child runs on %s', (backend) => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await createTestEngine({ backend, workflows: [parentWorkflow, childWorkflow, signalWorkflow] });
  });
  afterAll(async () => {
    await t?.close();
  });

  const log = (runId: string) => t.runtime.eventLog.read(runId, { limit: 10_000 });
  const children = async (parentRunId: string) => (await t.runtime.runs.list({ parentRunId })).runs;

  it('starts children durably: the parent suspends until each ends, replays never start a second, failures throw', async () => {
    const { run } = await t.engine.startRun({
      workflow: parentWorkflow.name,
      input: { children: [{ n: 1 }, { n: 2, fail: true }, { n: 3 }] },
    });
    const parent = await waitForStatus(t.runtime, run.id);
    expect(parent.status).toBe('succeeded');
    const { results, childIds } = parent.output as { results: unknown[]; childIds: string[] };
    expect(results).toEqual([2, { failed: childIds[1], status: 'failed', message: 'child 2 fails on purpose' }, 6]);

    // The parent was executed again after each wait (a replay from its log), and still started three children.
    const events = await log(run.id);
    expect(ofType(events, 'run.started').length).toBeGreaterThan(1);
    const started = await children(run.id);
    expect(started.map((child) => child.id).sort()).toEqual([...childIds].sort());
    expect(started.every((child) => child.parentRunId === run.id)).toBe(true);
    expect(ofType(events, 'step.completed').map((event) => event.data.step)).toEqual(['child:0', 'child:1', 'child:2']);
    expect(ofType(events, 'signal.consumed').map((event) => event.data.signal)).toEqual(childIds.map((id) => `child:${id}`));

    // Starting the same child again (what a replay that lost the step's record would do) finds the same run.
    const again = await t.engine.startRun({ workflow: childWorkflow.name, input: { n: 1 }, idempotencyKey: `${run.id}:child:0`, parentRunId: run.id });
    expect(again).toMatchObject({ created: false, run: { id: childIds[0] } });
  });

  it('cancelling a parent cancels its running children', async () => {
    const { run } = await t.engine.startRun({ workflow: parentWorkflow.name, input: { children: [], waitingChild: true } });
    await waitForEvent(t.runtime, run.id, 'run.waiting');
    const [child] = await children(run.id);
    await waitForEvent(t.runtime, child!.id, 'run.waiting');

    await t.engine.cancelRun(run.id);
    expect((await waitForStatus(t.runtime, run.id)).status).toBe('cancelled');
    expect((await waitForStatus(t.runtime, child!.id)).status).toBe('cancelled');
  });
});

describe.each(testBackends)('after dependencies on %s', (backend) => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await createTestEngine({ backend, workflows: [childWorkflow, signalWorkflow] });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A run that waits for the signal `go` until the test sends it `{ n }`. */
  const gated = async () => (await t.engine.startRun({ workflow: signalWorkflow.name, input: { signal: 'go' } })).run.id;

  it('stays queued until every dependency succeeded, then runs', async () => {
    const [a, b] = [await gated(), await gated()];
    const { run } = await t.engine.startRun({ workflow: childWorkflow.name, input: { n: 5 }, after: [a, b] });
    expect(run.after).toEqual([a, b]);

    await t.engine.sendSignal(a, 'go', { data: { n: 1 } });
    expect((await waitForStatus(t.runtime, a)).status).toBe('succeeded');
    // The job a's end made found b unfinished: still queued, never started.
    await waitForEvent(t.runtime, b, 'run.waiting');
    expect(await t.runtime.runs.get(run.id)).toMatchObject({ status: 'queued', attempts: 0 });

    await t.engine.sendSignal(b, 'go', { data: { n: 2 } });
    expect(await waitForStatus(t.runtime, run.id)).toMatchObject({ status: 'succeeded', output: 10 });
  });

  it('is cancelled, naming the dependency, when one fails or is cancelled, or already had', async () => {
    const a = await gated();
    const { run } = await t.engine.startRun({ workflow: childWorkflow.name, input: { n: 1 }, after: [a] });
    await t.engine.cancelRun(a);
    const cancelled = await waitForStatus(t.runtime, run.id);
    expect(cancelled.status).toBe('cancelled');
    const events = await t.runtime.eventLog.read(run.id);
    expect(ofType(events, 'run.cancelled')[0]!.data.reason).toBe(`dependency ${a} cancelled`);

    const { run: failing } = await t.engine.startRun({ workflow: childWorkflow.name, input: { n: 1, fail: true } });
    expect((await waitForStatus(t.runtime, failing.id)).status).toBe('failed');
    const late = await t.engine.startRun({ workflow: childWorkflow.name, input: { n: 2 }, after: [failing.id] });
    expect(late.run.status).toBe('cancelled');
  });

  it('refuses an unknown dependency, naming it, and creates nothing', async () => {
    const known = await gated();
    const missing = '00000000-0000-4000-8000-000000000099';
    const before = (await t.runtime.runs.list({ workflow: childWorkflow.name })).runs.length;
    await expect(
      t.engine.startRun({ workflow: childWorkflow.name, input: { n: 1 }, after: [known, missing] }),
    ).rejects.toMatchObject({ field: 'after[1]' });
    expect((await t.runtime.runs.list({ workflow: childWorkflow.name })).runs.length).toBe(before);
    await t.engine.cancelRun(known);
  });
});
