import { demoWorkflows } from '@runstream/demo-workflows';
import { createRunstream, type AnyWorkflow, type NodeHandler, type Runstream } from '@runstream/sdk';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bindingProblem, ConfigError, type ServerConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { startTracing } from './tracing.js';
import type { TracerProvider } from '@opentelemetry/api';

export { parseConfig, readEnvironment, ConfigError, type ServerConfig, type Role } from './config.js';

export interface StartServerOptions {
  /** The process's logger (main creates it); default: a new one at `config.logLevel`. */
  logger?: Logger;
  /** The workflows this node runs and validates. Default: the demo workflows. */
  workflows?: readonly AnyWorkflow[];
  /** Engine timings, for tests that want a fast handoff. */
  engine?: { shutdownGraceMs?: number; sweepIntervalMs?: number; leaseMs?: number; instanceStaleMs?: number };
  /**
   * Aborted to give up starting (a SIGTERM during startup): startup stops after the step in progress (each is
   * bounded; waiting for the queue's backend ends at once), releases what it built and rejects with the reason.
   */
  signal?: AbortSignal;
  /** The built dashboard to serve (default: apps/dashboard/dist); tests serve a build of their own. */
  dashboardDir?: string;
}

export interface StartedServer {
  /** Base URL of the HTTP server (the API, or only /health/* on a worker). */
  url: string;
  /** The PostgreSQL the server uses (password redacted). */
  databaseUrl: string;
  instanceId: string;
  /**
   * Graceful shutdown: stop accepting connections, end open streams, let the engine finish in-flight steps within
   * its grace period and hand off, close the runtime, stop the embedded PostgreSQL. Idempotent.
   */
  close(): Promise<void>;
}

/** How long minted per-run read tokens last. */
const READ_TOKEN_TTL_MS = 15 * 60_000;
/** How long in-flight HTTP requests get to finish on shutdown before their connections are cut. */
const HTTP_DRAIN_MS = 5_000;

/**
 * The composition root of a Runstream process: PostgreSQL (given, or embedded), migrations, runtime, job queue,
 * engine, HTTP server, wired by role. Everything it builds is released by `close()`; nothing is module-level, so
 * tests can start several servers in one process.
 */
export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<StartedServer> {
  const began = performance.now();
  const logger = options.logger ?? createLogger(config.logLevel);
  const problem = bindingProblem(config);
  if (problem) throw new ConfigError([problem]);

  // Started first and shut down last, so the engine's final spans are exported after it closes.
  const tracing = config.traces ? await startTracing() : null;
  if (tracing) logger.info('OpenTelemetry tracing on (OTEL_* variables)');
  const stopTracing = async () => {
    await tracing?.shutdown();
  };

  let rs: Runstream<readonly AnyWorkflow[]>;
  try {
    rs = await createNode(config, options.workflows ?? demoWorkflows, logger, {
      ...options,
      ...(tracing ? { tracerProvider: tracing.tracerProvider } : {}),
    });
  } catch (error) {
    await stopTracing().catch(() => {});
    throw error;
  }
  let http: RunningHttp;
  try {
    http = await startHttp(config, routes(config, rs), logger);
  } catch (error) {
    await rs.close().catch(() => {});
    await stopTracing().catch(() => {});
    throw error;
  }
  if (options.signal?.aborted) {
    await http.close().finally(() => rs.close()).finally(stopTracing);
    throw options.signal.reason;
  }

  logger.info(
    {
      role: config.role,
      url: http.url,
      namespace: config.namespace,
      instanceId: rs.instanceId,
      database: config.databaseUrl ? rs.databaseUrl : 'embedded',
      queue: rs.queueBackend,
      workflows: rs.workflowList().map((workflow) => workflow.name),
      ms: Math.round(performance.now() - began),
    },
    `Runstream ${config.role} node ready`,
  );

  let closing: Promise<void> | null = null;
  return {
    url: http.url,
    databaseUrl: rs.databaseUrl,
    instanceId: rs.instanceId,
    // The HTTP server first (stop accepting, end streams), then Runstream (engine handoff, runtime, PostgreSQL).
    close: () => (closing ??= http.close().finally(() => rs.close()).finally(stopTracing)),
  };
}

/** Runstream as this node's configuration says: PostgreSQL (given or embedded), queue, engine, worker by role. */
export function createNode(
  config: ServerConfig,
  workflows: readonly AnyWorkflow[],
  logger: Logger,
  options: Pick<StartServerOptions, 'engine' | 'signal' | 'dashboardDir'> & { tracerProvider?: TracerProvider } = {},
): Promise<Runstream<readonly AnyWorkflow[]>> {
  return createRunstream({
    workflows,
    // The configuration was read from the environment already: no second look at it here.
    env: {},
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    embedded: { dataDir: config.dataDir, port: config.embeddedPgPort },
    namespace: config.namespace,
    concurrency: config.workerConcurrency,
    worker: config.role !== 'api',
    poolSize: config.databasePoolSize,
    engine: { leaseMs: config.leaseMs, ...options.engine },
    startupTimeoutMs: config.startupTimeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.dashboardDir ? { dashboardDir: options.dashboardDir } : {}),
    api: {
      tokens: config.apiTokens,
      ...readTokenSettings(config, logger),
      allowedOrigins: config.allowedOrigins,
      headersTimeoutMs: config.headersTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxConnections: config.maxConnections,
    },
    ...(options.tracerProvider ? { tracerProvider: options.tracerProvider } : {}),
    logger,
  });
}

export interface HttpRoutes {
  handle: NodeHandler;
  /** Ends open streams (on shutdown, before the server waits for requests to finish). */
  endStreams(): Promise<void>;
  /** The HTTP server for `listener`: the API's bounds slow requests and caps connections. */
  createHttpServer(listener: NodeHandler): Server;
}

/** The API and, at the root, the dashboard's pages and assets; a worker serves only its health. */
export function routes(config: ServerConfig, rs: Runstream<readonly AnyWorkflow[]>): HttpRoutes {
  if (config.role === 'worker') {
    return { handle: workerEndpoints(rs), endStreams: async () => {}, createHttpServer: (listener) => createServer(listener) };
  }
  return { handle: rs.handler(), endStreams: () => rs.stopApi(), createHttpServer: (listener) => rs.createHttpServer(listener) };
}

export interface RunningHttp {
  url: string;
  close(): Promise<void>;
}

/** The API (roles api and all), or only /health/live and /health/ready (role worker). */
export async function startHttp(config: ServerConfig, { handle, endStreams, createHttpServer }: HttpRoutes, logger: Logger): Promise<RunningHttp> {
  const server = createHttpServer((req, res) => handle(req, res));
  server.keepAliveTimeout = 5_000;
  await listen(server, config);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    async close() {
      // Stop accepting connections and drop idle keep-alive ones, then end open streams, then give requests in
      // flight a moment before cutting what is left.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await endStreams();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), HTTP_DRAIN_MS))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        logger.warn('HTTP requests still open after the drain period: closing their connections');
        server.closeAllConnections();
        await closed;
      }
    },
  };
}

function listen(server: Server, config: ServerConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`PORT ${config.port} is already in use on ${config.host}: stop what holds it, or set PORT`));
      } else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
        reject(new Error(`HOST ${JSON.stringify(config.host)} is not an address of this machine (${error.code})`));
      } else reject(error);
    };
    server.once('error', onError);
    server.listen({ port: config.port, host: config.host }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/**
 * A worker serves no API: only liveness, readiness (PostgreSQL and the queue answer) and the metrics of what its
 * engine ran, as the API serves them (`/metrics` wants an API token when tokens are configured).
 */
function workerEndpoints(rs: Runstream<readonly AnyWorkflow[]>): NodeHandler {
  const health = rs.healthHandler();
  const metrics = rs.metricsHandler();
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { message: 'method not allowed' });
    if (!health(req, res) && !metrics(req, res)) {
      json(res, 404, { message: 'a worker node serves only /health/live, /health/ready and /metrics' });
    }
  };
}

/** The read-token secret, and the warnings an operator needs when auth or a shared secret is missing. */
function readTokenSettings(config: ServerConfig, logger: Logger): { readTokenSecret?: string; readTokenTtlMs: number } {
  if (config.role === 'worker') return { readTokenTtlMs: READ_TOKEN_TTL_MS };
  if (!config.readTokenSecret) {
    logger.warn(
      'RUNSTREAM_READ_TOKEN_SECRET is not set: using a random secret for this start, so read tokens stop working ' +
        'when the server restarts and are not accepted by other nodes. Set it (the same on every node) to keep them',
    );
  }
  if (config.apiTokens.length === 0) {
    logger.warn(
      { host: config.host },
      'RUNSTREAM_API_TOKEN is not set: authentication is OFF and the API is served on loopback only. ' +
        'Set RUNSTREAM_API_TOKEN to require bearer tokens (and to bind other hosts)',
    );
  }
  return { ...(config.readTokenSecret ? { readTokenSecret: config.readTokenSecret } : {}), readTokenTtlMs: READ_TOKEN_TTL_MS };
}
