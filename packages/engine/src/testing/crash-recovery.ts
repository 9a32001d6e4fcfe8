import { isTerminal, type RunEvent } from '@runstream/domain';
import { countEventsAfter, lastEventPosition } from '@runstream/store/testing';
import { testBackends, waitForStatus, waitUntil } from '@runstream/testkit';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEngine, type TestEngine } from './testing/index.js';
import { crashChunk, crashStepOutput, crashWorkflow } from './testing/crash-workflow.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const workerScript = fileURLToPath(new URL('./testing/worker-process.ts', import.meta.url));

const RUNS = 20;
const KILLS = 10;
const input = { steps: 4, chunks: 6, chunkMs: 15 };

interface WorkerChild {
  instanceId: string;
  process: ChildProcess;
  exited: Promise<void>;
  output(): string;
}

/** Every worker process this file started, so none outlives it whatever happens to the test. */
const children = new Set<WorkerChild>();

async function killWorker(worker: WorkerChild): Promise<void> {
  if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill('SIGKILL');
  await worker.exited;
  children.delete(worker);
}

/** Starts a worker process (a real engine node) on the test's namespace; resolves once it consumes jobs. */
async function startWorker(t: TestEngine, instanceId: string): Promise<WorkerChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: t.runtime.database.url,
      NAMESPACE: t.runtime.namespace,
      BACKEND: t.backend,
      REDIS_URL: t.connection.backend === 'redis' ? t.connection.redisUrl : '',
      LEASE_MS: '1000',
      SWEEP_INTERVAL_MS: '300',
      CONCURRENCY: '8',
      POOL_SIZE: '4',
      INSTANCE_ID: instanceId,
    },
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const worker: WorkerChild = { instanceId, process: child, exited, output: () => output };
  children.add(worker);
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (data: Buffer) => {
        output += data.toString();
        if (/^ready$/m.test(output)) resolve();
      });
      void exited.then(() => reject(new Error(`worker ${instanceId} exited before it was ready:\n${output}`)));
      timer = setTimeout(() => reject(new Error(`worker ${instanceId} not ready after 60 s:\n${output}`)), 60_000);
    });
  } catch (error) {
    await killWorker(worker);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return worker;
}

/**
 * A worker that fails to start is retried (twice): other test files share PostgreSQL's connection limit, and a
 * start that hits it says nothing about recovery. A worker that never starts still fails the test.
 */
async function spawnWorker(t: TestEngine, instanceId: string): Promise<WorkerChild> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWorker(t, attempt === 1 ? instanceId : `${instanceId}-${attempt}`);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

function lastPosition(t: TestEngine): Promise<string> {
  return lastEventPosition(t.runtime.store);
}

function eventsSince(t: TestEngine, position: string): Promise<number> {
  return countEventsAfter(t.runtime.store, position);
}

async function unfinished(t: TestEngine, runIds: string[]): Promise<number> {
  const runs = await Promise.all(runIds.map((id) => t.runtime.runs.get(id)));
  return runs.filter((run) => !run || !isTerminal(run.status)).length;
}

afterAll(async () => {
  await Promise.all([...children].map(killWorker));
});

describe.each(testBackends)('crash recovery on %s: worker processes SIGKILLed mid-step', (backend) => {
  let t: TestEngine;
  beforeAll(async () => {
    // The test process is an API node only: it creates runs and dispatches their jobs; workers are child processes.
    t = await createTestEngine({ backend, worker: false, workflows: [crashWorkflow] });
  });
  afterAll(async () => {
    await Promise.all([...children].map(killWorker));
    await t?.close();
  });

  it(`completes ${RUNS} runs exactly once each across ${KILLS} kills`, { timeout: 300_000 }, async () => {
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const { run } = await t.engine.startRun({ workflow: crashWorkflow.name, input });
      runIds.push(run.id);
    }

    let kills = 0;
    const killedAfter: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const baseline = await lastPosition(t);
      const worker = await spawnWorker(t, `crash-${backend}-${k}`);
      // Kill at a different point each time: from its very first write (leases just taken) to well into steps.
      const wanted = k % 3 === 0 ? 1 : randomInt(2, 40);
      const progress = await waitUntil(
        t.runtime,
        async () => {
          const since = await eventsSince(t, baseline);
          if (since >= wanted) return since;
          return (await unfinished(t, runIds)) === 0 ? since : undefined;
        },
        () => `worker ${worker.instanceId} to append ${wanted} events:\n${worker.output()}`,
        { timeoutMs: 60_000, recheckMs: 250 },
      );
      if ((await unfinished(t, runIds)) === 0) break;
      await killWorker(worker);
      kills++;
      killedAfter.push(progress);
    }
    expect(kills, `kills (after ${killedAfter.join(', ')} events)`).toBe(KILLS);

    const survivor = await spawnWorker(t, `crash-${backend}-survivor`);
    const done = await Promise.all(
      runIds.map((id) => waitForStatus(t.runtime, id, undefined, { timeoutMs: 120_000 })),
    ).finally(() => killWorker(survivor));

    let interruptedSteps = 0;
    let recoveredRuns = 0;
    for (const run of done) {
      expect(run.status, `run ${run.id}`).toBe('succeeded');
      expect(run.output).toEqual({ outputs: Array.from({ length: input.steps }, (_, s) => crashStepOutput(s, input.chunks)) });
      const events = await t.runtime.eventLog.read(run.id, { limit: 10_000 });
      checkLog(run.id, events);
      const starts = events.filter((event) => event.type === 'run.started').length;
      if (starts > 1) recoveredRuns++;
      interruptedSteps += events.filter(
        (event) => event.type === 'step.started' && event.data.attempt > 1,
      ).length;
    }
    // The kills really landed inside executions and steps: otherwise this test proves nothing.
    expect(recoveredRuns).toBeGreaterThan(0);
    expect(interruptedSteps).toBeGreaterThan(0);
  });
});

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
