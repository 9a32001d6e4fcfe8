/**
 * The crash-recovery scenario, one file per queue backend (crash-recovery.<backend>.int.test.ts) so the two run in
 * parallel: worker processes are SIGKILLed while a fact in the log says they are inside an execution, and every
 * run must still complete exactly once.
 */
import { isTerminal, type RunEvent } from '@runstream/domain';
import { countEventsAfter, lastEventPosition } from '@runstream/store/testing';
import { waitForStatus, waitUntil, type TestBackend } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashChunk, crashStepOutput, crashWorkflow } from './crash-workflow.js';
import { createTestEngine, type TestEngine } from './test-engine.js';
import { createWorkerProcesses, type WorkerProcess, type WorkerProcesses } from './worker-processes.js';

const RUNS = 12;
const input = { steps: 4, chunks: 6, chunkMs: 25 };

/**
 * Where each worker is killed, in order: right after it took its first lease (before any step of it ran), or
 * inside a step, once one of its steps streamed a middle chunk (more chunks, and the completion, are still to come).
 */
const KILL_POINTS = ['lease-taken', 'mid-step', 'mid-step', 'lease-taken', 'mid-step', 'mid-step'] as const;
type KillPoint = (typeof KILL_POINTS)[number];

/**
 * A worker that fails to start is retried (twice): other test files share PostgreSQL's connection limit, and a
 * start that hits it says nothing about recovery. A worker that never starts still fails the test.
 */
async function spawnWorker(workers: WorkerProcesses, t: TestEngine, instanceId: string): Promise<WorkerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await workers.start(t, {
        instanceId: attempt === 1 ? instanceId : `${instanceId}-${attempt}`,
        env: { LEASE_MS: '1000', SWEEP_INTERVAL_MS: '300', CONCURRENCY: '8', POOL_SIZE: '4' },
      });
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** Whether the log has, past `position`, the fact that `point` names (or `undefined` while it has not). */
async function reached(t: TestEngine, position: string, point: KillPoint): Promise<true | undefined> {
  const found =
    point === 'lease-taken'
      ? await countEventsAfter(t.runtime.store, position, { type: 'run.started' })
      : await countEventsAfter(t.runtime.store, position, { type: 'step.chunk', chunkIndex: [1, input.chunks - 3] });
  return found > 0 ? true : undefined;
}

function lastPosition(t: TestEngine): Promise<string> {
  return lastEventPosition(t.runtime.store);
}

async function unfinished(t: TestEngine, runIds: string[]): Promise<number> {
  const runs = await Promise.all(runIds.map((id) => t.runtime.runs.get(id)));
  return runs.filter((run) => !run || !isTerminal(run.status)).length;
}

/** Registers the scenario's suite for one queue backend. */
export function describeCrashRecovery(backend: TestBackend) {
  /** Every worker process this suite started, so none outlives it whatever happens to the test. */
  const workers = createWorkerProcesses();
  afterAll(async () => {
    await workers.killAll();
  });

  describe(`crash recovery on ${backend}: worker processes SIGKILLed inside executions`, () => {
    let t: TestEngine;
    beforeAll(async () => {
      // The test process is an API node only: it creates runs and dispatches their jobs; workers are child processes.
      t = await createTestEngine({ backend, worker: false, workflows: [crashWorkflow] });
    });
    afterAll(async () => {
      await workers.killAll();
      await t?.close();
    });

    it(`completes ${RUNS} runs exactly once each across ${KILL_POINTS.length} kills`, { timeout: 120_000 }, async () => {
      const runIds: string[] = [];
      for (let i = 0; i < RUNS; i++) {
        const { run } = await t.engine.startRun({ workflow: crashWorkflow.name, input });
        runIds.push(run.id);
      }

      const kills: KillPoint[] = [];
      for (const [k, point] of KILL_POINTS.entries()) {
        const baseline = await lastPosition(t);
        const worker = await spawnWorker(workers, t, `crash-${backend}-${k}`);
        // Killed as soon as the log says it is there (the bus wakes the wait on every append it makes).
        const finished = await waitUntil(
          t.runtime,
          async () => ((await reached(t, baseline, point)) ? false : (await unfinished(t, runIds)) === 0 ? true : undefined),
          () => `worker ${worker.instanceId} to reach ${point}:\n${worker.output()}`,
          { recheckMs: 250 },
        );
        if (finished) break;
        await workers.kill(worker);
        kills.push(point);
      }
      expect(kills, 'kills that landed before every run was done').toEqual([...KILL_POINTS]);

      const survivor = await spawnWorker(workers, t, `crash-${backend}-survivor`);
      const done = await Promise.all(runIds.map((id) => waitForStatus(t.runtime, id, undefined, { timeoutMs: 100_000 }))).finally(() =>
        workers.kill(survivor),
      );

      let interruptedSteps = 0;
      let recoveredRuns = 0;
      for (const run of done) {
        expect(run.status, `run ${run.id}`).toBe('succeeded');
        expect(run.output).toEqual({ outputs: Array.from({ length: input.steps }, (_, s) => crashStepOutput(s, input.chunks)) });
        const events = await t.runtime.eventLog.read(run.id, { limit: 10_000 });
        checkLog(run.id, events);
        const starts = events.filter((event) => event.type === 'run.started').length;
        if (starts > 1) recoveredRuns++;
        interruptedSteps += events.filter((event) => event.type === 'step.started' && event.data.attempt > 1).length;
      }
      // The kills really landed inside executions and steps: otherwise this test proves nothing.
      expect(recoveredRuns).toBeGreaterThan(0);
      expect(interruptedSteps).toBeGreaterThan(0);
    });
  });
}

/** Exactly-once facts of one run's log. */
function checkLog(runId: string, events: RunEvent[]) {
  const where = `run ${runId}`;
  // Dense seqs 1..N, no duplicates.
  expect(events.map((event) => event.seq), where).toEqual(events.map((_, i) => i + 1));
  expect(events.filter((event) => event.type === 'run.succeeded'), where).toHaveLength(1);
  expect(events.at(-1)?.type, where).toBe('run.succeeded');

  for (let step = 0; step < input.steps; step++) {
    const name = `step-${step}`;
    const completed = events.filter((event) => event.type === 'step.completed' && event.data.step === name);
    expect(completed, `${where} ${name} completed once`).toHaveLength(1);
    const completion = completed[0]!;
    if (completion.type !== 'step.completed') throw new Error('unreachable');
    expect(completion.data.output).toEqual(crashStepOutput(step, input.chunks));

    // Each attempt started once; the completed attempt is the last one started.
    const started = events.flatMap((event) =>
      event.type === 'step.started' && event.data.step === name ? [event.data.attempt] : [],
    );
    expect(started, `${where} ${name} attempts`).toEqual(started.map((_, i) => i + 1));
    expect(completion.data.attempt).toBe(started.at(-1));

    const chunks = events.flatMap((event) => (event.type === 'step.chunk' && event.data.step === name ? [event] : []));
    const keys = chunks.map((event) => (event.type === 'step.chunk' ? `${event.data.attempt}:${event.data.index}` : ''));
    expect(new Set(keys).size, `${where} ${name} duplicated chunks`).toBe(keys.length);
    // Every attempt's chunks are a gap-free prefix 0..k in order; the completed attempt's are all of them.
    for (const attempt of started) {
      const ofAttempt = chunks.flatMap((event) =>
        event.type === 'step.chunk' && event.data.attempt === attempt ? [event.data] : [],
      );
      expect(ofAttempt.map((chunk) => chunk.index)).toEqual(ofAttempt.map((_, i) => i));
      expect(ofAttempt.map((chunk) => chunk.data)).toEqual(ofAttempt.map((_, i) => crashChunk(step, i)));
    }
    // Nothing of the step is written after it completed.
    for (const chunk of chunks) expect(chunk.seq).toBeLessThan(completion.seq);
    const completedChunks = chunks.filter(
      (event) => event.type === 'step.chunk' && event.data.attempt === completion.data.attempt,
    );
    expect(completedChunks, `${where} ${name} chunks of the completed attempt`).toHaveLength(input.chunks);
  }
}
