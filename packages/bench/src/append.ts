/**
 * Append throughput and latency, with a raw INSERT as the physical reference. Prints figures; asserts nothing.
 *
 *   pnpm bench:append                      # BENCH_SECONDS (default 5) per measurement
 *   RUNSTREAM_BENCH_DATABASE_URL=postgres://user@host:5432/postgres pnpm bench:append
 *
 * Everything goes through one runtime (same driver, same pool) on a scratch database, so the raw-INSERT rows are
 * the reference the event log's figures are compared with.
 */
import { createRuntime, type Runtime } from '@runstream/runtime';
import { sql } from 'drizzle-orm';
import { availableParallelism, loadavg } from 'node:os';
import { benchSeconds, fmt, percentile, runFor, scratchDatabase, table, type Sample } from './harness.js';

const WARMUP_SECONDS = Math.min(1, benchSeconds / 5);
const CONCURRENCY = [1, 8, 32];
const BATCH = 100;
const BIG_RUN_EVENTS = 100_000;
const FILL_BATCH = 1_000;
const LENGTH_SAMPLES = 500;

const payload = { data: { progress: 42, message: 'tick' }, step: 'bench' };
const outputEvent = { type: 'run.output', data: payload };
const batchOf = (n: number) => Array.from({ length: n }, () => outputEvent);

/** Warm-up (discarded), then the measured run. */
async function measure(workers: number, op: (worker: number) => Promise<unknown>): Promise<Sample> {
  await runFor(workers, WARMUP_SECONDS, op);
  return runFor(workers, benchSeconds, op);
}

/** `count` sequential calls of `op`, as a sample. */
async function sequential(count: number, op: () => Promise<unknown>): Promise<Sample> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await op();
    latencies.push(performance.now() - t0);
  }
  return { ops: count, seconds: latencies.reduce((a, b) => a + b, 0) / 1000, latencies };
}

/** A run in state `running` (run.created + run.started), ready for output events. */
async function preparedRun(runtime: Runtime): Promise<string> {
  const { run } = await runtime.runs.create({ workflow: 'bench', input: {} });
  await runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'bench' } }]);
  return run.id;
}

const preparedRuns = (runtime: Runtime, n: number) => Promise.all(Array.from({ length: n }, () => preparedRun(runtime)));

const rows: string[][] = [];
function report(what: string, writers: number, sample: Sample, eventsPerOp: number, vsRaw = '') {
  const callsPerSecond = sample.ops / sample.seconds;
  rows.push([
    what,
    String(writers),
    fmt(callsPerSecond),
    fmt(callsPerSecond * eventsPerOp),
    fmt(percentile(sample.latencies, 0.5), 2),
    fmt(percentile(sample.latencies, 0.99), 2),
    vsRaw,
  ]);
  console.error(`  done: ${what} × ${writers}`);
}

const database = await scratchDatabase('append');
let runtime: Runtime | undefined;
try {
  runtime = await createRuntime({ databaseUrl: database.url, namespace: database.name, poolSize: 40 });
  const { eventLog } = runtime;
  // The raw-INSERT reference runs on the store's own pool, so both sides share driver and connections.
  const { db } = runtime.store;
  await db.execute(sql`create table bench_raw (
    id bigserial primary key, run_id uuid, data jsonb, created_at timestamptz default now())`);
  const [server] = await db.execute<{ version: string; sync: string }>(
    sql`select current_setting('server_version') as version, current_setting('synchronous_commit') as sync`,
  );
  console.log(
    `PostgreSQL ${server?.version} (synchronous_commit=${server?.sync}); ${benchSeconds} s per measurement; ` +
      `${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)} at start\n`,
  );

  const raw = new Map<number, number>();
  const rawJson = JSON.stringify(payload);
  for (const writers of CONCURRENCY) {
    const runIds = Array.from({ length: writers }, () => crypto.randomUUID());
    const sample = await measure(writers, (w) =>
      db.execute(sql`insert into bench_raw (run_id, data) values (${runIds[w]}, ${rawJson}::jsonb)`),
    );
    raw.set(writers, sample.ops / sample.seconds);
    report('raw INSERT (1 row)', writers, sample, 1);
  }

  for (const writers of CONCURRENCY) {
    const runIds = await preparedRuns(runtime, writers);
    const sample = await measure(writers, (w) => eventLog.append(runIds[w]!, [outputEvent]));
    report('append (1 event)', writers, sample, 1, `${fmt((sample.ops / sample.seconds / raw.get(writers)!) * 100)}%`);
  }

  const batch = batchOf(BATCH);
  for (const writers of CONCURRENCY) {
    const runIds = await preparedRuns(runtime, writers);
    report(`append (${BATCH} events)`, writers, await measure(writers, (w) => eventLog.append(runIds[w]!, batch)), BATCH);
  }

  const bigRun = await preparedRun(runtime);
  const fill = batchOf(FILL_BATCH);
  for (let n = 2; n < BIG_RUN_EVENTS; n += FILL_BATCH) await eventLog.append(bigRun, fill);
  const freshRun = await preparedRun(runtime);
  for (const [label, runId] of [['fresh run', freshRun], [`run with ${BIG_RUN_EVENTS / 1000}k events`, bigRun]] as const) {
    await sequential(50, () => eventLog.append(runId, [outputEvent]));
    report(`append (1 event), ${label}`, 1, await sequential(LENGTH_SAMPLES, () => eventLog.append(runId, [outputEvent])), 1);
  }

  table(['measurement', 'writers', 'calls/s', 'events/s', 'p50 ms', 'p99 ms', 'vs raw'], rows);
} finally {
  await runtime?.close();
  await database.drop();
}
