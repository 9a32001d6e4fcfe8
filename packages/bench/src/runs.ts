/**
 * End-to-end run throughput and latency, with raw BullMQ as the reference. Prints figures; asserts nothing.
 *
 *   pnpm bench:runs                 # both backends, BENCH_SECONDS (default 5) per measurement
 *   BENCH_BACKENDS=redis pnpm bench:runs
 *
 * Each measurement is a closed loop: `concurrency` clients each start a run and wait for it to succeed, then
 * start the next, against an engine whose worker concurrency is the same. Latency is create → succeeded as the
 * client sees it (through the bus, as a streaming client would). The reference is BullMQ alone: no-op jobs
 * through a Queue and a Worker on the same backend and concurrency.
 */
import { createEngine } from '@runstream/engine';
import { createBullQueue, queueSchema, type QueueBackendConfig } from '@runstream/queue';
import { createRuntime } from '@runstream/runtime';
import { createPostgresBackend, Queue, Worker, withBackend } from 'bullmq';
import { benchSeconds, fmt, percentile, rate, redisUrl, runFor, scratchDatabase, table, type Sample } from './harness.js';
import { finalSeq, steps1, steps5 } from './workflows.js';

const CONCURRENCY = [1, 16, 64];
const backends = (process.env.BENCH_BACKENDS ?? 'postgres,redis').split(',') as ('postgres' | 'redis')[];

async function engineBench(backend: 'postgres' | 'redis', concurrency: number, steps: 1 | 5): Promise<Sample> {
  const db = await scratchDatabase(`runs_${backend}_${concurrency}_${steps}`);
  const namespace = db.name;
  const runtime = await createRuntime({ databaseUrl: db.url, namespace, poolSize: 20 });
  const connection: QueueBackendConfig =
    backend === 'redis' ? { backend: 'redis', redisUrl } : { backend: 'postgres', databaseUrl: db.url };
  const queue = createBullQueue({ namespace, connection });
  const engine = createEngine({ runtime, queue, workflows: [steps1, steps5], concurrency });
  runtime.start();
  await engine.startWorker();
  const workflow = steps === 1 ? 'bench.steps1' : 'bench.steps5';
  const last = finalSeq(steps);

  const runOnce = async () => {
    const { run } = await engine.startRun({ workflow, input: {} });
    await new Promise<void>((resolve) => {
      const unsubscribe = runtime.bus.subscribe(run.id, (signal) => {
        if (signal.kind === 'appended' && signal.lastSeq >= last) {
          unsubscribe();
          resolve();
        }
      });
    });
  };
  try {
    await runFor(concurrency, Math.min(1, benchSeconds / 5), runOnce);
    return await runFor(concurrency, benchSeconds, runOnce);
  } finally {
    await engine.close();
    await runtime.close();
    if (backend === 'redis') {
      const cleanup = createBullQueue({ namespace, connection });
      await cleanup.obliterate();
      await cleanup.close();
    }
    await db.drop();
  }
}

/** Raw BullMQ: `total` no-op jobs added in bulk, processed at `concurrency`; jobs/s from first add to last done. */
async function bullmqReference(backend: 'postgres' | 'redis', concurrency: number, total: number): Promise<number> {
  const db = backend === 'postgres' ? await scratchDatabase(`bullmq_${concurrency}`) : null;
  const name = 'reference';
  const prefix = `runstream_bench_ref_${process.pid}_${concurrency}`;
  const pg = withBackend(createPostgresBackend);
  const pgConnection = db ? { connectionString: db.url, schema: queueSchema(prefix), migrate: true } : null;
  const redis = new URL(redisUrl);
  const redisConnection = { host: redis.hostname, port: Number(redis.port || 6379), maxRetriesPerRequest: null };
  const queue = pgConnection
    ? (new pg.Queue(name, { connection: pgConnection }) as unknown as Queue)
    : new Queue(name, { connection: redisConnection, prefix });
  await queue.waitUntilReady();
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const processor = async () => {
    if (++done === total) finish();
  };
  const start = performance.now();
  await queue.addBulk(Array.from({ length: total }, (_, i) => ({ name: 'noop', data: { i } })));
  const worker = pgConnection
    ? (new pg.Worker(name, processor, { connection: pgConnection, concurrency }) as unknown as Worker)
    : new Worker(name, processor, { connection: redisConnection, prefix, concurrency });
  await finished;
  const seconds = (performance.now() - start) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await db?.drop();
  return total / seconds;
}

for (const backend of backends) {
  console.log(`\n## ${backend} backend (${benchSeconds} s per measurement)\n`);
  const rows: (string | number)[][] = [];
  for (const concurrency of CONCURRENCY) {
    const reference = await bullmqReference(backend, concurrency, 2_000);
    for (const steps of [1, 5] as const) {
      const sample = await engineBench(backend, concurrency, steps);
      rows.push([
        concurrency,
        steps,
        fmt(rate(sample), 1),
        fmt(percentile(sample.latencies, 0.5), 1),
        fmt(percentile(sample.latencies, 0.99), 1),
        fmt(rate(sample) * (3 + steps * 2), 0),
        fmt(reference, 0),
      ]);
    }
  }
  table(
    ['worker concurrency', 'steps/run', 'runs/s', 'p50 ms', 'p99 ms', 'events/s', 'raw BullMQ no-op jobs/s'],
    rows,
  );
}
