/**
 * Engine nodes as their own processes (./worker-process.ts, run from a compiled bundle), for the tests that SIGKILL
 * a worker: the crash-recovery scenario, signals and schedules across a killed node.
 */
import { bundleForChild } from '@runstream/testkit';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestEngine } from './test-engine.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const workerScript = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

/** A guard only: a start that hangs fails with the child's output rather than as a bare test timeout. */
const READY_WITHIN_MS = 60_000;

export interface WorkerProcess {
  instanceId: string;
  process: ChildProcess;
  exited: Promise<void>;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
}

export interface WorkerProcessOptions {
  instanceId: string;
  /** More of worker-process.ts's settings (LEASE_MS, SWEEP_INTERVAL_MS, CONCURRENCY, SCHEDULES, POOL_SIZE...). */
  env?: Record<string, string>;
}

/** Starts a worker process on the test engine's database, namespace and backend; resolves once it consumes jobs. */
export function startWorkerProcess(t: TestEngine, options: WorkerProcessOptions): Promise<WorkerProcess> {
  return launch(t, options, () => {}, killWorkerProcess);
}

/** SIGKILLs the worker process (unless it already exited) and waits for it to be gone. */
export async function killWorkerProcess(worker: WorkerProcess): Promise<void> {
  if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill('SIGKILL');
  await worker.exited;
}

export interface WorkerProcesses {
  start(t: TestEngine, options: WorkerProcessOptions): Promise<WorkerProcess>;
  kill(worker: WorkerProcess): Promise<void>;
  /** Kills every process started here and not killed yet: for afterAll, so none outlives its test file. */
  killAll(): Promise<void>;
}

/** One test file's worker processes, each tracked from the moment it is spawned until it is killed. */
export function createWorkerProcesses(): WorkerProcesses {
  const running = new Set<WorkerProcess>();
  const kill = async (worker: WorkerProcess) => {
    await killWorkerProcess(worker);
    running.delete(worker);
  };
  return {
    start: (t, options) => launch(t, options, (worker) => running.add(worker), kill),
    kill,
    killAll: async () => {
      await Promise.all([...running].map(kill));
    },
  };
}

/** Spawns the worker, hands it to `spawned` at once, and waits for it to be ready; one that is not gets `kill`ed. */
async function launch(
  t: TestEngine,
  options: WorkerProcessOptions,
  spawned: (worker: WorkerProcess) => void,
  kill: (worker: WorkerProcess) => Promise<void>,
): Promise<WorkerProcess> {
  const { instanceId } = options;
  const child = spawn(process.execPath, [await bundleForChild(workerScript)], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      POOL_SIZE: '3',
      ...options.env,
      DATABASE_URL: t.runtime.database.url,
      NAMESPACE: t.runtime.namespace,
      BACKEND: t.backend,
      REDIS_URL: t.connection.backend === 'redis' ? t.connection.redisUrl : '',
      INSTANCE_ID: instanceId,
    },
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const worker: WorkerProcess = { instanceId, process: child, exited, output: () => output };
  spawned(worker);
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (data: Buffer) => {
        output += data.toString();
        if (/^ready$/m.test(output)) resolve();
      });
      void exited.then(() => reject(new Error(`worker process ${instanceId} exited before it was ready:\n${output}`)));
      timer = setTimeout(
        () => reject(new Error(`worker process ${instanceId} not ready after ${READY_WITHIN_MS / 1000} s:\n${output}`)),
        READY_WITHIN_MS,
      );
    });
  } catch (error) {
    await kill(worker);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return worker;
}
