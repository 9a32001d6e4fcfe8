import type { JobQueue } from '@runstream/queue';
import type { Runtime } from '@runstream/runtime';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RETRY_AFTER_SECONDS, type ApiLogger } from './errors.js';
import { createRouteTable, send, type Route } from './http-routing.js';

export type ApiQueue = Pick<JobQueue, 'backend' | 'ping' | 'counts'>;

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: {
    postgres: { ok: boolean; error?: string };
    queue: { ok: boolean; backend: 'redis' | 'postgres'; error?: string };
  };
}

/** Resolves with `work`'s outcome, or rejects once `ms` passed (the work itself is left to finish). */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function probe(check: () => Promise<unknown>, ms: number, what: string, logger: ApiLogger) {
  try {
    await withTimeout(check(), ms, what);
    return { ok: true };
  } catch (error) {
    logger.warn(`[runstream:api] readiness: ${what} is down`, error);
    // The endpoint is unauthenticated: say which dependency is down, not how it failed in detail.
    const timedOut = error instanceof Error && error.message.endsWith(`timed out after ${ms} ms`);
    return { ok: false, error: timedOut ? `no answer within ${ms} ms` : 'unreachable' };
  }
}

/** PostgreSQL `select 1` and the queue's ping, each bounded by `timeoutMs`. */
export async function checkHealth(
  runtime: Pick<Runtime, 'store'>,
  queue: ApiQueue,
  timeoutMs: number,
  logger: ApiLogger,
): Promise<HealthReport> {
  const [postgres, queueCheck] = await Promise.all([
    probe(() => runtime.store.ping(), timeoutMs, 'postgres', logger),
    probe(() => queue.ping(), timeoutMs, 'queue', logger),
  ]);
  return {
    status: postgres.ok && queueCheck.ok ? 'ok' : 'degraded',
    checks: { postgres, queue: { ...queueCheck, backend: queue.backend } },
  };
}

export interface HealthCheckConfig {
  runtime: Pick<Runtime, 'store'>;
  queue: ApiQueue;
  /** Bound on each dependency check, ms. Default 2 s. */
  timeoutMs?: number;
  /** Where a dependency found down is reported. Default `console`. */
  logger?: ApiLogger;
  /** True once the server is shutting down: liveness says so and readiness fails. Default: never. */
  closing?: () => boolean;
}

/** `/health/live` and `/health/ready` (GET and HEAD, unauthenticated), as route-table rows served while closing. */
export function healthRoutes(config: HealthCheckConfig): Route[] {
  const { runtime, queue } = config;
  const timeoutMs = config.timeoutMs ?? 2_000;
  const logger = config.logger ?? console;
  const closing = config.closing ?? (() => false);
  return [
    // Liveness: the process serves requests (also while shutting down, so it is not killed mid-drain).
    {
      methods: ['GET', 'HEAD'],
      path: '/health/live',
      servedWhileClosing: true,
      access: 'public',
      handle: ({ res }) => send(res, 200, JSON.stringify({ status: closing() ? 'closing' : 'ok' })),
    },
    {
      methods: ['GET', 'HEAD'],
      path: '/health/ready',
      servedWhileClosing: true,
      access: 'public',
      handle: async ({ res }) => {
        if (closing()) return send(res, 503, JSON.stringify({ status: 'closing' }), undefined, String(RETRY_AFTER_SECONDS));
        const report = await checkHealth(runtime, queue, timeoutMs, logger);
        if (report.status === 'ok') send(res, 200, JSON.stringify(report));
        else send(res, 503, JSON.stringify(report), undefined, String(RETRY_AFTER_SECONDS));
      },
    },
  ];
}

/**
 * The health endpoints alone, for a process that serves no API (a worker node): answers them and returns true,
 * or returns false and leaves any other request to the caller.
 */
export function createHealthHandler(config: HealthCheckConfig): (req: IncomingMessage, res: ServerResponse) => boolean {
  const routes = createRouteTable(healthRoutes(config));
  const logger = config.logger ?? console;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://runstream.invalid');
    const match = routes.match(req.method ?? 'GET', url.pathname);
    if (!match) return false;
    Promise.resolve(match.route.handle({ req, res, url, params: match.params })).catch((error: unknown) => {
      logger.error('[runstream:api] health endpoint failed', error);
      res.destroy();
    });
    return true;
  };
}
