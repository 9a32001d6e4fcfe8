import { RunNotFoundError, RunStatusConflictError } from '@runstream/domain';
import { testBackends, waitForEvent, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, sleepWorkflow, type TestEngine } from './testing/index.js';
import { defineWorkflow, NonRetryableError } from './workflow.js';

// cancelRun on every status a run can be in: queued (no worker involved), running (its signals abort),
// suspended in a durable sleep (woken early to end), already cancelled (harmless), finished (a conflict).


/** What a running step saw of the run's and its own signal when the run was cancelled, per run. */
const seen = new Map<string, { runSignal: boolean; stepSignal: boolean; reason: string }>();

/** One step that waits until its signal aborts; it never finishes on its own. */
const blocking = defineWorkflow({
  name: 'test.blocking',
  input: z.object({}),
  async run(ctx) {
    await ctx.step('block', async ({ signal }) => {
      await new Promise<void>((resolve) => {
        signal.addEventListener(
          'abort',
          () => {
            seen.set(ctx.runId, {
              runSignal: ctx.signal.aborted,
              stepSignal: signal.aborted,
              reason: (ctx.signal.reason as Error | undefined)?.name ?? 'none',
            });
            resolve();
          },
          { once: true },
        );
      });
    });
    return 'finished anyway';
  },
});

const quick = defineWorkflow({
  name: 'test.quick',
  input: z.object({ fail: z.boolean().default(false) }),
  async run(ctx, { fail }) {
    return ctx.step('quick', async () => {
      if (fail) throw new NonRetryableError('no');
      return 'ok';
    });
  },
});

const workflows = [blocking, quick, sleepWorkflow];

describe.each(testBackends)('cancelRun on %s', (backend) => {
  let t: TestEngine;
  /** An API-only engine: runs it starts stay queued, nothing ever executes them. */
  let api: TestEngine;
  beforeAll(async () => {
    [t, api] = await Promise.all([
      createTestEngine({ backend, workflows, leaseMs: 10_000 }),
      createTestEngine({ backend, workflows, worker: false }),
    ]);
  });
  afterAll(() => Promise.all([t?.close(), api?.close()]));

  it('cancels a queued run at once, without any worker; cancelling it again changes nothing', async () => {
    const { run } = await api.engine.startRun({ workflow: 'test.blocking', input: {} });
    expect(run.status).toBe('queued');
    const cancelled = await api.engine.cancelRun(run.id);
    expect(cancelled).toMatchObject({ id: run.id, status: 'cancelled', lastSeq: 2, attempts: 0 });
    expect(cancelled.finishedAt).toBeInstanceOf(Date);
    const events = await api.runtime.eventLog.read(run.id);
    expect(events.map((event) => event.type)).toEqual(['run.created', 'run.cancelled']);

    const again = await api.engine.cancelRun(run.id);
    expect(again).toMatchObject({ id: run.id, status: 'cancelled', lastSeq: 2 });
    expect(await api.runtime.eventLog.read(run.id)).toHaveLength(2);
  });

  it('aborts a running run’s signals and ends it cancelled; a second cancel adds nothing', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.blocking', input: {} });
    await waitForEvent(t.runtime, run.id, 'step.started');
    const requested = await t.engine.cancelRun(run.id);
    expect(requested.id).toBe(run.id);
    expect(['running', 'cancelled']).toContain(requested.status);
    // Asked while the first request is pending (or after it took effect): no second request is recorded.
    const twice = await t.engine.cancelRun(run.id);
    expect(twice.cancelRequested || twice.status === 'cancelled').toBe(true);

    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBeNull();
    expect(seen.get(run.id)).toEqual({ runSignal: true, stepSignal: true, reason: 'RunCancelled' });

    const events = await t.runtime.eventLog.read(run.id);
    const types = events.map((event) => event.type);
    expect(types).toEqual(['run.created', 'run.started', 'step.started', 'run.cancel_requested', 'run.cancelled']);

    const third = await t.engine.cancelRun(run.id);
    expect(third).toMatchObject({ status: 'cancelled', lastSeq: done.lastSeq });
    expect(await t.runtime.eventLog.read(run.id)).toHaveLength(events.length);
  });

  it('refuses to cancel a succeeded or failed run, and an unknown one', async () => {
    const { run: ok } = await t.engine.startRun({ workflow: 'test.quick', input: {} });
    const { run: bad } = await t.engine.startRun({ workflow: 'test.quick', input: { fail: true } });
    const succeeded = await waitForStatus(t.runtime, ok.id);
    const failed = await waitForStatus(t.runtime, bad.id);
    expect([succeeded.status, failed.status]).toEqual(['succeeded', 'failed']);

    const conflict = await t.engine.cancelRun(ok.id).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(RunStatusConflictError);
    expect(conflict).toMatchObject({ status: 'succeeded', operation: 'cancel' });
    await expect(t.engine.cancelRun(bad.id)).rejects.toBeInstanceOf(RunStatusConflictError);
    expect((await t.runtime.runs.get(ok.id))).toMatchObject({ status: 'succeeded', lastSeq: succeeded.lastSeq });
    expect((await t.runtime.runs.get(bad.id))).toMatchObject({ status: 'failed', lastSeq: failed.lastSeq });

    await expect(t.engine.cancelRun('0190a0f0-0000-7000-8000-000000000000')).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('ends a run suspended in a long durable sleep promptly', async () => {
    const { run } = await t.engine.startRun({ workflow: sleepWorkflow.name, input: { ms: 3_600_000 } });
    await waitForEvent(t.runtime, run.id, 'run.sleeping');
    await t.engine.cancelRun(run.id);
    // Prompt by construction: the sleep's wake-up job is an hour away, far beyond this test's timeout.
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('cancelled');
    const types = (await t.runtime.eventLog.read(run.id)).map((event) => event.type);
    expect(types).toEqual(['run.created', 'run.started', 'run.sleeping', 'run.cancel_requested', 'run.cancelled']);
  });
});
