import { createBullQueue, type JobQueue } from '@runstream/queue';
import type { Runtime } from '@runstream/runtime';
import { createTestRuntime, type TestRuntime } from '@runstream/runtime/testing';
import { waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine, type Engine } from './engine.js';
import { outline } from './testing/index.js';
import { defineWorkflow } from './workflow.js';

// A running execution hears every append to its run on the bus, its own included (delivered synchronously,
// before the append's promise resolves), and re-reads the run row only for an append that could be someone
// else's cancel request. Reads are counted by a wrapper that passes every call on to the real repository.

const wait = { timeoutMs: 30_000 };

const threeSteps = defineWorkflow({
  name: 'test.three-steps',
  input: z.object({}),
  async run(ctx) {
    for (const name of ['a', 'b', 'c']) await ctx.step(name, async () => name);
    return 'done';
  },
});

/** The first step finishes; the second waits for its signal, so only a cancel can end the run. */
const cancelledAfterFirst = defineWorkflow({
  name: 'test.cancelled-after-first',
  input: z.object({}),
  async run(ctx) {
    await ctx.step('first', async () => 1);
    await ctx.step('second', ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', resolve)));
    return 'finished anyway';
  },
});

describe('cancel checks of a running execution', () => {
  let runtime: TestRuntime;
  let queue: JobQueue;
  let engine: Engine;
  /** Run-row reads through the engine's runtime, per run. */
  const reads = new Map<string, number>();
  /** Called before a `step.completed` append is passed on: lets a test act while that append is in flight. */
  let beforeStepCompleted: (runId: string) => Promise<void> = async () => {};

  beforeAll(async () => {
    runtime = await createTestRuntime({ drainer: { pollIntervalMs: 250 } });
    const counted: Runtime = {
      ...runtime,
      runs: {
        ...runtime.runs,
        get(id) {
          reads.set(id, (reads.get(id) ?? 0) + 1);
          return runtime.runs.get(id);
        },
      },
      eventLog: {
        ...runtime.eventLog,
        async append(id, events, options) {
          if (events.some((event) => (event as { type?: string }).type === 'step.completed')) {
            await beforeStepCompleted(id);
          }
          return runtime.eventLog.append(id, events, options);
        },
      },
    };
    queue = createBullQueue({
      namespace: runtime.namespace,
      connection: { backend: 'postgres', databaseUrl: runtime.database.url },
    });
    engine = createEngine({
      runtime: counted,
      queue,
      workflows: [threeSteps, cancelledAfterFirst],
      leaseMs: 10_000,
      sweepIntervalMs: 500,
      shutdownGraceMs: 2_000,
    });
    runtime.start();
    await engine.startWorker();
  });
  afterAll(async () => {
    await engine?.close();
    await runtime?.close();
  });

  it('an execution’s own appends trigger no re-read: a 3-step run reads its row twice, at pickup and at start', async () => {
    const { run } = await engine.startRun({ workflow: threeSteps.name, input: {} });
    const done = await waitForStatus(runtime, run.id, undefined, wait);
    expect(done).toMatchObject({ status: 'succeeded', output: 'done', lastSeq: 9 });
    expect(reads.get(run.id)).toBe(2);
  });

  it('a cancel requested while the execution’s own append is in flight still ends the run cancelled', async () => {
    const { run } = await engine.startRun({ workflow: cancelledAfterFirst.name, input: {} });
    beforeStepCompleted = async (runId) => {
      beforeStepCompleted = async () => {};
      // Same runtime: the bus delivers the request synchronously, while the execution awaits its append.
      await engine.cancelRun(runId);
    };
    const done = await waitForStatus(runtime, run.id, undefined, wait);
    expect(done.status).toBe('cancelled');
    const events = await runtime.eventLog.read(run.id);
    expect(outline(events).slice(0, 5)).toEqual([
      'run.created',
      'run.started',
      'step.started:first#1',
      'run.cancel_requested',
      'step.completed:first#1',
    ]);
    expect(events.at(-1)?.type).toBe('run.cancelled');
  });
});
