import { createPostgresBackend, Queue, Worker, withBackend } from 'bullmq';
import type { EnqueueOptions, JobHandler, JobQueue, RunJob } from './job-queue.js';

export type QueueBackendConfig =
  /** BullMQ's Redis backend. */
  | { backend: 'redis'; redisUrl: string }
  /** BullMQ's PostgreSQL backend, in its own schema of the given database (the embedded default). */
  | { backend: 'postgres'; databaseUrl: string };

export interface BullQueueConfig {
  /** Keeps deployments (and parallel test workers) apart: a Redis key prefix, or a PostgreSQL schema. */
  namespace: string;
  connection: QueueBackendConfig;
  /** How long BullMQ keeps finished jobs, so a re-published outbox row still finds its job id taken. */
  keepFinishedSeconds?: number;
  /** PostgreSQL backend: connections per BullMQ object's pool. Default 5. */
  poolSize?: number;
}

const QUEUE_NAME = 'runs';

/** ioredis options from a redis:// URL; BullMQ workers need `maxRetriesPerRequest: null`. */
function redisOptions(url: string) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** A PostgreSQL schema name for a namespace: lower-case identifier characters only. */
export function queueSchema(namespace: string): string {
  return `bullmq_${namespace.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/**
 * The engine's job queue on BullMQ. Both backends expose the same classes; only the connection differs, so the
 * engine (and its test suite) runs unchanged on either.
 */
export function createBullQueue(config: BullQueueConfig): JobQueue {
  const keep = { age: config.keepFinishedSeconds ?? 3_600 };
  const defaultJobOptions = { removeOnComplete: keep, removeOnFail: keep, attempts: 1 };
  let queue: Queue<RunJob>;
  let makeWorker: (handler: JobHandler, concurrency: number) => Worker<RunJob>;

  if (config.connection.backend === 'redis') {
    const connection = redisOptions(config.connection.redisUrl);
    const prefix = config.namespace;
    queue = new Queue<RunJob>(QUEUE_NAME, { connection, prefix, defaultJobOptions });
    makeWorker = (handler, concurrency) =>
      new Worker<RunJob>(QUEUE_NAME, (job) => handler(job.data), { connection, prefix, concurrency });
  } else {
    const Postgres = withBackend(createPostgresBackend);
    const connection = {
      connectionString: config.connection.databaseUrl,
      schema: queueSchema(config.namespace),
      migrate: true,
      max: config.poolSize ?? 5,
    };
    queue = new Postgres.Queue<RunJob>(QUEUE_NAME, { connection, defaultJobOptions }) as unknown as Queue<RunJob>;
    makeWorker = (handler, concurrency) =>
      new Postgres.Worker<RunJob>(QUEUE_NAME, (job) => handler(job.data), {
        connection,
        concurrency,
      }) as unknown as Worker<RunJob>;
  }

  let worker: Worker<RunJob> | null = null;
  // On the PostgreSQL backend an add racing (or after) `close()` never settles; a caller awaiting it (the outbox
  // drainer, via the dispatcher) would then hang forever. So adds are refused once closing, and close waits for
  // the adds in flight.
  let closed = false;
  const adding = new Set<Promise<unknown>>();

  return {
    backend: config.connection.backend,
    async enqueue(job: RunJob, options: EnqueueOptions) {
      if (closed) throw new Error(`queue ${config.namespace} is closed`);
      const added = queue.add(job.reason, job, {
        jobId: options.jobId,
        ...(options.delayMs ? { delay: Math.ceil(options.delayMs) } : {}),
      });
      adding.add(added);
      try {
        await added;
      } finally {
        adding.delete(added);
      }
    },
    async startWorker(handler: JobHandler, concurrency: number) {
      if (worker) throw new Error('worker already started');
      worker = makeWorker(handler, concurrency);
      // Errors are reported by the handler's owner; BullMQ would otherwise print them as unhandled.
      worker.on('error', () => {});
      await worker.waitUntilReady();
    },
    async closeWorker() {
      await worker?.close();
    },
    async counts() {
      const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        delayed: counts.delayed ?? 0,
        active: counts.active ?? 0,
      };
    },
    async ping() {
      await queue.getJobCounts('active');
    },
    async obliterate() {
      await queue.obliterate({ force: true });
    },
    async close() {
      closed = true;
      await worker?.close();
      await Promise.allSettled(adding);
      await queue.close();
    },
  };
}
