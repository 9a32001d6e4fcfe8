import { RunNotFoundError, RunStatusConflictError, type RunEvent } from '@runstream/domain';
import { testBackends, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, type TestEngine } from './testing/index.js';
import { defineWorkflow, NonRetryableError } from './workflow.js';

// Failure semantics of steps and runs: retries with backoff, exhausted retries and the dead-letter list,
// non-retryable errors, attempt timeouts, and retryRun. Every fact is read from the run's log or row.


/** Invocations of each step function, per run (workflows are shared by both backends' engines). */
const calls = new Map<string, number>();
function called(runId: string, step: string): number {
  const key = `${runId}:${step}`;
  const n = (calls.get(key) ?? 0) + 1;
  calls.set(key, n);
  return n;
}
const invocations = (runId: string, step: string) => calls.get(`${runId}:${step}`) ?? 0;

/** What step functions saw of their abort signals, per run. */
const aborts = new Map<string, { attempt: number; reason: string }[]>();

class PaymentDeclined extends Error {
  override name = 'PaymentDeclined';
  readonly code = 'DECLINED';
}

/** One step failing its first `failures` attempts (or, `fatal`, throwing NonRetryableError). */
const charge = defineWorkflow({
  name: 'test.charge',
  input: z.object({
    failures: z.number().int().min(0),
    retries: z.number().int().min(0),
    baseMs: z.number().int().min(1).default(20),
    maxMs: z.number().int().min(1).default(1_000),
    fatal: z.boolean().default(false),
  }),
  async run(ctx, { failures, retries, baseMs, maxMs, fatal }) {
    return ctx.step(
      'charge',
      async ({ attempt }) => {
        called(ctx.runId, 'charge');
        if (fatal) throw new NonRetryableError('card reported stolen');
        if (attempt <= failures) throw new PaymentDeclined(`declined on attempt ${attempt}`);
        return { chargedOnAttempt: attempt };
      },
      { retries, backoff: { baseMs, maxMs } },
    );
  },
});

/** A step that hangs on its first `hangs` attempts until its signal aborts (the timeout). */
const slow = defineWorkflow({
  name: 'test.slow',
  input: z.object({ hangs: z.number().int().min(0), retries: z.number().int().min(0), timeoutMs: z.number().int() }),
  async run(ctx, { hangs, retries, timeoutMs }) {
    return ctx.step(
      'slow',
      async ({ attempt, signal }) => {
        called(ctx.runId, 'slow');
        if (attempt > hangs) return { finishedOnAttempt: attempt };
        // Ignores nothing: waits for the abort and records it (a step that never settles would also be abandoned).
        await new Promise<void>((resolve) => {
          signal.addEventListener(
            'abort',
            () => {
              const seen = aborts.get(ctx.runId) ?? [];
              seen.push({ attempt, reason: (signal.reason as Error).name });
              aborts.set(ctx.runId, seen);
              resolve();
            },
            { once: true },
          );
        });
        return { ignoredAbortOnAttempt: attempt };
      },
      { retries, timeoutMs, backoff: { baseMs: 10, maxMs: 20 } },
    );
  },
});

/** Three steps; the second fails (without retries) on its first attempt only. */
const pipeline = defineWorkflow({
  name: 'test.pipeline',
  input: z.object({}),
  async run(ctx) {
    const one = await ctx.step('one', async () => {
      called(ctx.runId, 'one');
      return { token: `${ctx.runId}:${invocations(ctx.runId, 'one')}` };
    });
    const two = await ctx.step('two', async ({ attempt }) => {
      called(ctx.runId, 'two');
      if (attempt === 1) throw new Error('downstream unavailable');
      return { attempt };
    });
    const three = await ctx.step('three', async () => {
      called(ctx.runId, 'three');
      return 3;
    });
    return { one, two, three };
  },
});

const ofType = <T extends RunEvent['type']>(events: RunEvent[], type: T) =>
  events.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);

describe.each(testBackends)('failure semantics on %s', (backend) => {
  let t: TestEngine;
  beforeAll(async () => {
    // A long lease: a machine too busy to heartbeat must not hand a run to a second execution here, which
    // would re-run steps and blur the invocation counts (that is crash recovery, tested elsewhere).
    t = await createTestEngine({ backend, workflows: [charge, slow, pipeline], leaseMs: 10_000 });
  });
  afterAll(() => t?.close());

  it('retries a step k times with exponential, jittered backoff that is respected, then succeeds', async () => {
    const baseMs = 100;
    const maxMs = 1_000;
    const { run } = await t.engine.startRun({ workflow: 'test.charge', input: { failures: 3, retries: 3, baseMs, maxMs } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ chargedOnAttempt: 4 });
    expect(invocations(run.id, 'charge')).toBe(4);

    const events = await t.runtime.eventLog.read(run.id);
    const failed = ofType(events, 'step.failed');
    const started = ofType(events, 'step.started');
    expect(failed.map((event) => event.data.attempt)).toEqual([1, 2, 3]);
    expect(started.map((event) => event.data.attempt)).toEqual([1, 2, 3, 4]);
    for (const [i, failure] of failed.entries()) {
      expect(failure.data.error).toMatchObject({ name: 'PaymentDeclined', message: `declined on attempt ${i + 1}` });
      expect(failure.data.retryAt).toBeDefined();
      const retryAt = new Date(failure.data.retryAt!).getTime();
      // The delay was drawn from [ceiling/2, ceiling], the ceiling doubling per attempt. It was added to the
      // time the attempt ended, which lies between its start (no earlier than its step.started event) plus its
      // duration, and the step.failed event's own timestamp: bounds that hold however slow the machine is.
      const ceiling = Math.min(maxMs, baseMs * 2 ** i);
      const attemptStarted = started[i]!;
      expect(attemptStarted.data.attempt).toBe(failure.data.attempt);
      const endedNoEarlierThan = attemptStarted.createdAt.getTime() + failure.data.durationMs - 1;
      expect(retryAt - endedNoEarlierThan).toBeGreaterThanOrEqual(ceiling / 2);
      expect(retryAt - failure.createdAt.getTime()).toBeLessThanOrEqual(ceiling);
      // The next attempt did not start before the recorded retryAt.
      const next = started[i + 1]!;
      expect(next.seq).toBeGreaterThan(failure.seq);
      expect(next.createdAt.getTime()).toBeGreaterThanOrEqual(retryAt);
    }
    const [step] = await t.engine.steps(run.id);
    expect(step).toMatchObject({ name: 'charge', status: 'completed', attempts: 4, error: null });
  });

  it('fails the run with the error once retries are exhausted, and lists it as a dead letter', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.charge', input: { failures: 99, retries: 2, baseMs: 10 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('failed');
    expect(done.finishedAt).toBeInstanceOf(Date);
    expect(invocations(run.id, 'charge')).toBe(3);

    expect(done.error).toMatchObject({ name: 'PaymentDeclined', message: 'declined on attempt 3', code: 'DECLINED' });
    expect(done.error?.stack).toContain('declined on attempt 3');
    expect(done.error?.stack).toContain('failures.int.test');

    const events = await t.runtime.eventLog.read(run.id);
    expect(events.at(-1)?.type).toBe('run.failed');
    const [runFailed] = ofType(events, 'run.failed');
    expect(runFailed?.data).toEqual({ error: done.error, step: 'charge' });
    const failed = ofType(events, 'step.failed');
    expect(failed.map((event) => [event.data.attempt, event.data.retryAt !== undefined])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);

    const steps = await t.engine.steps(run.id);
    expect(steps).toEqual([
      expect.objectContaining({ name: 'charge', status: 'failed', attempts: 3, output: null, error: done.error }),
    ]);

    const deadLetters = await t.engine.deadLetters();
    expect(deadLetters.runs.map((dead) => dead.id)).toContain(run.id);
    expect(deadLetters.runs.every((dead) => dead.status === 'failed')).toBe(true);
  });

  it('fails at once on NonRetryableError despite retries left', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.charge', input: { failures: 0, retries: 5, fatal: true } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ name: 'NonRetryableError', message: 'card reported stolen' });
    expect(invocations(run.id, 'charge')).toBe(1);

    const events = await t.runtime.eventLog.read(run.id);
    const failed = ofType(events, 'step.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data.attempt).toBe(1);
    expect(failed[0]!.data.retryAt).toBeUndefined();
    expect(ofType(events, 'run.failed')[0]?.data.step).toBe('charge');
    expect(await t.engine.steps(run.id)).toEqual([expect.objectContaining({ status: 'failed', attempts: 1 })]);
  });

  it('fails an attempt that exceeds timeoutMs with StepTimeoutError and aborts its signal', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.slow', input: { hangs: 1, retries: 1, timeoutMs: 200 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ finishedOnAttempt: 2 });
    expect(aborts.get(run.id)).toEqual([{ attempt: 1, reason: 'StepTimeoutError' }]);

    const events = await t.runtime.eventLog.read(run.id);
    const failed = ofType(events, 'step.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data).toMatchObject({
      step: 'slow',
      attempt: 1,
      error: { name: 'StepTimeoutError', message: 'step slow timed out after 200 ms' },
    });
    expect(failed[0]!.data.durationMs).toBeGreaterThanOrEqual(190);
    expect(failed[0]!.data.retryAt).toBeDefined();
  });

  it('fails the run with StepTimeoutError when the timed-out step has no retries left', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.slow', input: { hangs: 99, retries: 0, timeoutMs: 100 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ name: 'StepTimeoutError', message: 'step slow timed out after 100 ms' });
    expect(aborts.get(run.id)).toEqual([{ attempt: 1, reason: 'StepTimeoutError' }]);
    const events = await t.runtime.eventLog.read(run.id);
    expect(ofType(events, 'run.failed')[0]?.data).toMatchObject({ step: 'slow', error: { name: 'StepTimeoutError' } });
  });

  it('retryRun re-queues a failed run: completed steps keep their output, the failed step runs again', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.pipeline', input: {} });
    const failed = await waitForStatus(t.runtime, run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toBe('downstream unavailable');
    expect([invocations(run.id, 'one'), invocations(run.id, 'two'), invocations(run.id, 'three')]).toEqual([1, 1, 0]);

    const retried = await t.engine.retryRun(run.id);
    expect(retried).toMatchObject({ id: run.id, status: 'queued', retries: 1, error: null, finishedAt: null });

    const done = await waitForStatus(t.runtime, run.id, 'succeeded');
    expect(done.output).toEqual({ one: { token: `${run.id}:1` }, two: { attempt: 2 }, three: 3 });
    expect([invocations(run.id, 'one'), invocations(run.id, 'two'), invocations(run.id, 'three')]).toEqual([1, 2, 1]);
    expect(done.retries).toBe(1);
    expect(done.error).toBeNull();

    const events = await t.runtime.eventLog.read(run.id);
    const startedOf = (step: string) =>
      ofType(events, 'step.started')
        .filter((event) => event.data.step === step)
        .map((event) => event.data.attempt);
    expect(startedOf('one')).toEqual([1]);
    expect(startedOf('two')).toEqual([1, 2]);
    expect(startedOf('three')).toEqual([1]);
    const types = events.map((event) => event.type);
    expect(types.indexOf('run.retried')).toBe(types.indexOf('run.failed') + 1);

    const steps = await t.engine.steps(run.id);
    expect(steps.map((step) => [step.name, step.status, step.attempts])).toEqual([
      ['one', 'completed', 1],
      ['two', 'completed', 2],
      ['three', 'completed', 1],
    ]);

    // The run succeeded: retrying it again is a conflict, and nothing is written.
    await expect(t.engine.retryRun(run.id)).rejects.toBeInstanceOf(RunStatusConflictError);
    expect((await t.runtime.runs.get(run.id))?.lastSeq).toBe(done.lastSeq);
  });

  it('retryRun refuses runs that did not fail, and unknown runs', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.charge', input: { failures: 0, retries: 0 } });
    await waitForStatus(t.runtime, run.id, 'succeeded');
    const error = await t.engine.retryRun(run.id).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RunStatusConflictError);
    expect(error).toMatchObject({ code: 'RUN_STATUS_CONFLICT', status: 'succeeded', operation: 'retry' });

    await expect(t.engine.retryRun('0190a0f0-0000-7000-8000-000000000000')).rejects.toBeInstanceOf(RunNotFoundError);
    await expect(t.engine.retryRun('not-a-run-id')).rejects.toBeInstanceOf(RunNotFoundError);
  });
});
