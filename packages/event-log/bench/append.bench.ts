/**
 * Append throughput/latency benchmark. Prints figures; asserts nothing.
 *
 *   pnpm bench:append                      # 5 s per measurement
 *   BENCH_SECONDS=10 pnpm bench:append
 *   RUNSTREAM_BENCH_DATABASE_URL=postgres://user@host:5432/postgres pnpm bench:append
 *
 * Creates a scratch database `runstream_bench_<pid>` on that server, migrates it, and drops it at the end.
 * Everything goes through one runtime (same driver, same pool), so the raw-INSERT rows are the physical
 * reference the event log's figures are compared with.
 */
import { connectDatabase, migrateDatabase } from '@runstream/db';
import { sql } from 'drizzle-orm';
import { availableParallelism, loadavg } from 'node:os';
// The runtime depends on this package, so it is not a dependency of it; a relative import avoids the cycle.
import { createRuntime, type Runtime } from '../../runtime/src/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Math.min(1, SECONDS / 5);
const CONCURRENCY = [1, 8, 32];
const BATCH = 100;
const BIG_RUN_EVENTS = 100_000;
const FILL_BATCH = 1_000;
const LENGTH_SAMPLES = 500;

const adminUrl = process.env.RUNSTREAM_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `runstream_bench_${process.pid}`;
const benchUrl = Object.assign(new URL(adminUrl), { pathname: `/${dbName}` }).toString();

const payload = { data: { progress: 42, message: 'tick' }, step: 'bench' };
const outputEvent = { type: 'run.output', data: payload };
const batchOf = (n: number) => Array.from({ length: n }, () => outputEvent);

interface Sample {
  ops: number;
  seconds: number;
  /** Per-operation latencies in ms. */
  latencies: number[];
}

/** Runs `workers` loops of `op` until `seconds` have passed; returns completed ops and their latencies. */
async function runFor(workers: number, seconds: number, op: (worker: number) => Promise<unknown>): Promise<Sample> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await op(worker);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { ops: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

/** `count` sequential calls of `op`; returns their latencies. */
async function runTimes(count: number, op: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await op();
    latencies.push(performance.now() - t0);
  }
  return latencies;
}

/** Warm-up (discarded), then the measured run. */
async function measure(workers: number, op: (worker: number) => Promise<unknown>): Promise<Sample> {
  await runFor(workers, WARMUP_SECONDS, op);
  return runFor(workers, SECONDS, op);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? NaN;
}

/** A run in state `running` (run.created + run.started), ready for output events. */
async function preparedRun(runtime: Runtime): Promise<string> {
  const { run } = await runtime.runs.create({ workflow: 'bench', input: {} });
  await runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'bench' } }]);
  return run.id;
}

const preparedRuns = (runtime: Runtime, n: number) => Promise.all(Array.from({ length: n }, () => preparedRun(runtime)));

const rows: string[][] = [];
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function report(what: string, writers: number | string, sample: Sample, eventsPerOp: number, vsRaw = '') {
  const opsPerSecond = sample.ops / sample.seconds;
  rows.push([
    what,
    String(writers),
    fmt(opsPerSecond),
    fmt(opsPerSecond * eventsPerOp),
    fmt(percentile(sample.latencies, 0.5), 2),
    fmt(percentile(sample.latencies, 0.99), 2),
    vsRaw,
  ]);
  console.error(`  done: ${what} × ${writers}`);
}

function printTable() {
  const header = ['measurement', 'writers', 'calls/s', 'events/s', 'p50 ms', 'p99 ms', 'vs raw'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i < 2 ? `-${'-'.repeat(w)}-` : `-${'-'.repeat(w)}:`)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

async function main() {
  const admin = connectDatabase(adminUrl, { max: 1 });
  await admin.db.execute(sql.raw(`drop database if exists ${dbName} with (force)`));
  await admin.db.execute(sql.raw(`create database ${dbName}`));
  let runtime: Runtime | undefined;
  try {
    await migrateDatabase(benchUrl);
    runtime = await createRuntime({ databaseUrl: benchUrl, namespace: 'bench', poolSize: 40 });
    const { db, eventLog } = runtime;
    await db.execute(sql`create table bench_raw (
      id bigserial primary key, run_id uuid, data jsonb, created_at timestamptz default now())`);
    const [server] = await db.execute<{ version: string; sync: string }>(
      sql`select current_setting('server_version') as version, current_setting('synchronous_commit') as sync`,
    );
    console.log(
      `PostgreSQL ${server?.version} (synchronous_commit=${server?.sync}); ${SECONDS} s per measurement; ` +
        `${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)} at start`,
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
      const ratio = sample.ops / sample.seconds / raw.get(writers)!;
      report('append (1 event)', writers, sample, 1, `${fmt(ratio * 100)}%`);
    }

    const batch = batchOf(BATCH);
    for (const writers of CONCURRENCY) {
      const runIds = await preparedRuns(runtime, writers);
      const sample = await measure(writers, (w) => eventLog.append(runIds[w]!, batch));
      report(`append (${BATCH} events)`, writers, sample, BATCH);
    }

    const bigRun = await preparedRun(runtime);
    const fill = batchOf(FILL_BATCH);
    for (let n = 2; n < BIG_RUN_EVENTS; n += FILL_BATCH) await eventLog.append(bigRun, fill);
    const freshRun = await preparedRun(runtime);
    for (const [label, runId] of [['fresh run', freshRun], [`run with ${BIG_RUN_EVENTS / 1000}k events`, bigRun]] as const) {
      await runTimes(50, () => eventLog.append(runId, [outputEvent]));
      const latencies = await runTimes(LENGTH_SAMPLES, () => eventLog.append(runId, [outputEvent]));
      const seconds = latencies.reduce((a, b) => a + b, 0) / 1000;
      report(`append (1 event), ${label}`, 1, { ops: latencies.length, seconds, latencies }, 1);
    }

    printTable();
  } finally {
    await runtime?.close();
    await admin.db.execute(sql.raw(`drop database if exists ${dbName} with (force)`));
    await admin.close();
  }
}

await main();
