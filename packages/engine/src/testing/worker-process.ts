/**
 * A worker node as its own process, for the crash tests: a runtime, a BullMQ queue and an engine executing
 * `crashWorkflow` and `signalWorkflow`, configured from the environment. Prints `ready` once it consumes jobs; the test SIGKILLs it.
 *
 *   node --import tsx packages/engine/src/testing/worker-process.ts
 *
 * DATABASE_URL, NAMESPACE, BACKEND (redis | postgres), REDIS_URL (redis backend), LEASE_MS, SWEEP_INTERVAL_MS,
 * CONCURRENCY, POOL_SIZE, INSTANCE_ID; SCHEDULES (a JSON array of schedule definitions to declare, for the
 * schedules' crash test) and SCHEDULE_POLL_MS.
 */
import { createBullQueue } from '@runstream/queue';
import { createRuntime } from '@runstream/runtime';
import { createEngine } from '../engine.js';
import { defineSchedule, type ScheduleDefinition } from '../schedules.js';
import { crashWorkflow } from './crash-workflow.js';
import { signalWorkflow } from './signal-workflow.js';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`worker-process: ${name} is not set`);
  return value;
}

// The test holds our stdin open: when it goes away (even killed itself), so do we — no orphaned workers.
process.stdin.on('end', () => process.exit(1));
process.stdin.on('error', () => process.exit(1));
process.stdin.resume();

const namespace = env('NAMESPACE');
const databaseUrl = env('DATABASE_URL');
const backend = env('BACKEND');
const onError = (error: unknown, where: string) => console.error(`[worker ${process.pid}:${where}]`, error);

const runtime = await createRuntime({
  databaseUrl,
  namespace,
  poolSize: Number(env('POOL_SIZE', '3')),
  drainer: { pollIntervalMs: 250 },
  onError,
});
const queue = createBullQueue({
  namespace,
  connection:
    backend === 'redis' ? { backend: 'redis', redisUrl: env('REDIS_URL') } : { backend: 'postgres', databaseUrl },
  // Several of these processes run at once beside the test's own node: each keeps a small share of the server.
  poolSize: 2,
});
const engine = createEngine({
  runtime,
  queue,
  workflows: [crashWorkflow, signalWorkflow],
  leaseMs: Number(env('LEASE_MS', '1000')),
  sweepIntervalMs: Number(env('SWEEP_INTERVAL_MS', '300')),
  concurrency: Number(env('CONCURRENCY', '8')),
  ...(process.env.INSTANCE_ID ? { instanceId: process.env.INSTANCE_ID } : {}),
  ...(process.env.SCHEDULES ? { schedules: (JSON.parse(process.env.SCHEDULES) as ScheduleDefinition[]).map(defineSchedule) } : {}),
  ...(process.env.SCHEDULE_POLL_MS ? { schedulePollMs: Number(process.env.SCHEDULE_POLL_MS) } : {}),
  onError,
});
runtime.start();
await engine.startWorker();
process.stdout.write('ready\n');
