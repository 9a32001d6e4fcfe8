import { migrateDatabase } from '@runstream/db';
import postgres from 'postgres';

/** Shared plumbing of the benchmark scripts: scratch databases, timing loops, percentiles, tables. */

export const benchSeconds = Number(process.env.BENCH_SECONDS ?? 5);
export const adminUrl = process.env.RUNSTREAM_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisUrl = process.env.RUNSTREAM_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A freshly created database on the bench server, migrated to Runstream's schema unless `migrate` is false (a
 * peer system that brings its own schema); `drop()` removes it.
 */
export async function scratchDatabase(label: string, { migrate = true } = {}): Promise<ScratchDatabase> {
  const name = `runstream_bench_${label}_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin`drop database if exists ${admin(name)} with (force)`;
  await admin`create database ${admin(name)}`;
  await admin.end();
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  if (migrate) await migrateDatabase(url);
  return {
    name,
    url,
    async drop() {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await sql`drop database if exists ${sql(name)} with (force)`;
      await sql.end();
    },
  };
}

export interface Sample {
  ops: number;
  seconds: number;
  /** Per-operation latencies in ms. */
  latencies: number[];
}

/** Runs `workers` loops of `op` until `seconds` have passed; returns completed ops and their latencies. */
export async function runFor(
  workers: number,
  seconds: number,
  op: (worker: number) => Promise<unknown>,
): Promise<Sample> {
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

/** Runs `workers` loops of `op` until `total` ops have started; returns their latencies. */
export async function runCount(workers: number, total: number, op: (worker: number) => Promise<unknown>): Promise<Sample> {
  const latencies: number[] = [];
  const start = performance.now();
  let started = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (started < total) {
        started++;
        const t0 = performance.now();
        await op(worker);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { ops: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

export const rate = (sample: Sample) => sample.ops / sample.seconds;
export const fmt = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a';

/** Prints a markdown table. */
export function table(headers: string[], rows: (string | number)[][]): void {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  console.log(line(headers));
  console.log(line(headers.map(() => '---')));
  for (const row of rows) console.log(line(row));
  console.log();
}
