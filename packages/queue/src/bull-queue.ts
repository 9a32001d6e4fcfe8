import { createPostgresBackend, Queue, Worker, withBackend } from 'bullmq';
import { Redis } from 'ioredis';
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
  /**
   * Redis backend: called when Redis becomes reachable (`up`) or stops being so (`down`, with the error), once per
   * change rather than per reconnect attempt. Connection errors are not printed anywhere else.
   */
  onConnectionChange?: (state: 'up' | 'down', error?: Error) => void;
  /**
   * How long closing waits for the worker (its jobs in flight included) before dropping its connections. BullMQ's
   * close can wait forever on a connection an outage left reconnecting (taskforcesh/bullmq#4656). Default 15 s.
   */
  workerCloseTimeoutMs?: number;
}

type ConnectionState = 'connecting' | 'up' | 'down';

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
  let releaseConnection = () => {};
  let closed = false;

  if (config.connection.backend === 'redis') {
    const connection = redisOptions(config.connection.redisUrl);
    const prefix = config.namespace;
    // The queue's connection is made here rather than by BullMQ: its events tell when Redis comes and goes
    // (BullMQ does not pass `ready` on), and with a listener on `error` ioredis prints nothing itself.
    const client = new Redis(connection);
    let state: ConnectionState = 'connecting';
    const change = (next: 'up' | 'down', error?: Error) => {
      if (state === next || closed) return;
      state = next;
      config.onConnectionChange?.(next, error);
    };
    client.on('ready', () => change('up'));
    client.on('error', (error: Error) => change('down', error));
    client.on('close', () => change('down', new Error('the connection to Redis was closed')));
    queue = new Queue<RunJob>(QUEUE_NAME, { connection: client, prefix, defaultJobOptions });
    // The same errors as the client's, re-emitted: BullMQ prints them when nothing listens.
    queue.on('error', () => {});
    makeWorker = (handler, concurrency) =>
      new Worker<RunJob>(QUEUE_NAME, (job) => handler(job.data), { connection, prefix, concurrency });
    // BullMQ leaves a connection it was given open.
    releaseConnection = () => client.disconnect();
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
  let workerClosed: Promise<void> | null = null;
  const stopWorker = (): Promise<void> => {
    const current = worker;
    if (!current) return Promise.resolve();
    workerClosed ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const closing = current.close().then(() => true);
      const stuck = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), config.workerCloseTimeoutMs ?? 15_000);
      });
      const closed = await Promise.race([closing, stuck]).finally(() => clearTimeout(timer));
      // Stops ioredis reconnecting, so nothing of the worker keeps the process alive.
      if (!closed) void current.disconnect().catch(() => {});
    })().catch(() => {});
    return workerClosed;
  };
  // On the PostgreSQL backend an add racing (or after) `close()` never settles; a caller awaiting it (the outbox
  // drainer, via the dispatcher) would then hang forever. So adds are refused once closing, and close waits for
  // the adds in flight.
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
      await stopWorker();
    },
    async counts() {
      const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        delayed: counts.delayed ?? 0,
        active: counts.active ?? 0,
      };
    },
    async waitUntilReady() {
      await queue.waitUntilReady();
    },
    async ping() {
      await queue.getJobCounts('active');
    },
    async obliterate() {
      await queue.obliterate({ force: true });
    },
    async close() {
      closed = true;
      await stopWorker();
      await Promise.allSettled(adding);
      try {
        await queue.close();
      } finally {
        releaseConnection();
      }
    },
  };
}
