import { RunNotFoundError, RunStatusConflictError, ValidationError, type RunEvent } from '@runstream/domain';
import { testBackends, waitForEvent, waitForStatus } from '@runstream/testkit';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestEngine,
  createWorkerProcesses,
  joinTestEngine,
  signalWorkflow,
  type PeerEngine,
  type TestEngine,
} from './testing/index.js';

/** Worker processes this file started, so none outlives it. */
const workerProcesses = createWorkerProcesses();

const ofType = <T extends RunEvent['type']>(events: RunEvent[], type: T) =>
  events.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);

afterAll(async () => {
  await workerProcesses.killAll();
});

describe.each(testBackends)('signals on %s', (backend) => {
  // The test process is an API node: it starts runs and sends signals. Runs execute on a peer engine in this
  // process, or on a worker process (the crash test).
  let t: TestEngine;
  let peer: PeerEngine | null = null;
  const worker = async () => (peer ??= await joinTestEngine(t, { workflows: [signalWorkflow] }));

  beforeAll(async () => {
    t = await createTestEngine({ backend, worker: false, workflows: [signalWorkflow] });
  });
  afterAll(async () => {
    await peer?.close();
    await t?.close();
  });

  const log = (runId: string) => t.runtime.eventLog.read(runId, { limit: 10_000 });
  const start = async (input: Record<string, unknown>) =>
    (await t.engine.startRun({ workflow: signalWorkflow.name, input: { signal: 'go', ...input } })).run.id;

  it('keeps signals sent before the run waits, and its waits take them in arrival order', async () => {
    const runId = await start({ waits: 2 });
    // No worker yet: the run is queued when both arrive.
    const first = await t.engine.sendSignal(runId, 'go', { data: { n: 1 } });
    const second = await t.engine.sendSignal(runId, 'go', { data: { n: 2 } });
    expect(first.run.status).toBe('queued');
    await worker();

    const run = await waitForStatus(t.runtime, runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ received: [{ n: 1 }, { n: 2 }] });
    const events = await log(runId);
    expect(ofType(events, 'signal.consumed').map((event) => [event.data.wait, event.data.seq])).toEqual([
      ['wait:0', first.seq],
      ['wait:1', second.seq],
    ]);
    // Both were there already: neither wait suspended.
    expect(ofType(events, 'run.waiting')).toHaveLength(0);
  });

  it('wakes a waiting run when its signal arrives; a repeated key is accepted and changes nothing', async () => {
    await worker();
    const runId = await start({});
    const waiting = await waitForEvent(t.runtime, runId, 'run.waiting');
    const suspended = await t.runtime.runs.get(runId);
    expect(suspended).toMatchObject({ status: 'running', waiting: { signal: 'go' } });
    expect(suspended!.waiting!.schema).toMatchObject({ type: 'object', required: ['n'] });
    expect(waiting.data).toMatchObject({ wait: 'wait:0', signal: 'go' });

    // A signal of another name does not end the wait.
    await t.engine.sendSignal(runId, 'other', { data: { n: 0 } });
    const sent = await t.engine.sendSignal(runId, 'go', { data: { n: 7 }, idempotencyKey: 'approve-1' });
    expect(sent.seq).not.toBeNull();
    const repeated = await t.engine.sendSignal(runId, 'go', { data: { n: 8 }, idempotencyKey: 'approve-1' });
    expect(repeated.seq).toBeNull();

    const run = await waitForStatus(t.runtime, runId);
    expect(run.output).toEqual({ received: [{ n: 7 }] });
    const events = await log(runId);
    expect(ofType(events, 'signal.received').map((event) => event.data.signal)).toEqual(['other', 'go']);
    expect(ofType(events, 'step.completed').map((event) => event.data.step)).toEqual(['before', 'after']);
    expect(ofType(events, 'run.started')).toHaveLength(2);
  });

  it('times out: the wait throws SignalTimeoutError, which the workflow catches, and the log records it', async () => {
    await worker();
    const runId = await start({ waits: 1, timeoutMs: 300 });
    const run = await waitForStatus(t.runtime, runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ received: ['timed out'] });
    const events = await log(runId);
    expect(ofType(events, 'signal.timed_out').map((event) => event.data.wait)).toEqual(['wait:0']);
    expect(ofType(events, 'run.waiting')[0]!.data.until).toBeDefined();
  });

  it('refuses data that fails the schema of the wait, naming the field, and writes nothing', async () => {
    await worker();
    const runId = await start({});
    await waitForEvent(t.runtime, runId, 'run.waiting');
    const before = await t.runtime.runs.get(runId);
    const refusal = await t.engine.sendSignal(runId, 'go', { data: { n: 'seven' } }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ValidationError);
    expect((refusal as ValidationError).field).toBe('data.n');
    expect((await t.runtime.runs.get(runId))!.lastSeq).toBe(before!.lastSeq);

    await t.engine.sendSignal(runId, 'go', { data: { n: 7 } });
    expect((await waitForStatus(t.runtime, runId)).output).toEqual({ received: [{ n: 7 }] });
    // Finished: a conflict, with or without a key.
    await expect(t.engine.sendSignal(runId, 'go', { data: { n: 8 } })).rejects.toBeInstanceOf(RunStatusConflictError);
    await expect(t.engine.sendSignal(randomUUID(), 'go', { data: null })).rejects.toBeInstanceOf(RunNotFoundError);
    await expect(t.engine.sendSignal(runId, 'bad name!', { data: null })).rejects.toMatchObject({ field: 'name' });
  });

  it('resumes a run whose worker process was SIGKILLed while it waited: the signal completes it once', { timeout: 120_000 }, async () => {
    // Only the worker process executes the run until it is killed.
    await peer?.close();
    peer = null;
    const instanceId = `signal-crash-${backend}-${randomUUID().slice(0, 8)}`;
    const child = await workerProcesses.start(t, { instanceId, env: { LEASE_MS: '1000', SWEEP_INTERVAL_MS: '300' } });
    const runId = await start({ waits: 2 });
    await waitForEvent(t.runtime, runId, 'run.waiting');
    await t.engine.sendSignal(runId, 'go', { data: { n: 1 }, idempotencyKey: 'k1' });
    await waitForEvent(t.runtime, runId, 'run.waiting', { where: (event) => event.type === 'run.waiting' && event.data.wait === 'wait:1' });
    await workerProcesses.kill(child);

    await t.engine.sendSignal(runId, 'go', { data: { n: 2 }, idempotencyKey: 'k2' });
    await t.engine.sendSignal(runId, 'go', { data: { n: 2 }, idempotencyKey: 'k2' });
    await worker();
    const run = await waitForStatus(t.runtime, runId, undefined, { timeoutMs: 60_000 });
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ received: [{ n: 1 }, { n: 2 }] });
    const events = await log(runId);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, i) => i + 1));
    expect(ofType(events, 'signal.received')).toHaveLength(2);
    expect(ofType(events, 'signal.consumed').map((event) => event.data.wait)).toEqual(['wait:0', 'wait:1']);
    expect(ofType(events, 'step.completed').map((event) => event.data.step)).toEqual(['before', 'after']);
    expect(ofType(events, 'run.succeeded')).toHaveLength(1);
    const workers = ofType(events, 'run.started').map((event) => event.data.workerId);
    expect(workers.slice(0, 2)).toEqual([instanceId, instanceId]);
    expect(workers.at(-1)).toBe(peer!.engine.instanceId);
  });
});
