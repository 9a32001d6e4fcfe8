import type { JobQueue } from '@runstream/queue';
import type { Runtime } from '@runstream/runtime';
import { sql } from 'drizzle-orm';
import type { ApiLogger } from './errors.js';

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
  runtime: Pick<Runtime, 'db'>,
  queue: ApiQueue,
  timeoutMs: number,
  logger: ApiLogger,
): Promise<HealthReport> {
  const [postgres, queueCheck] = await Promise.all([
    probe(() => runtime.db.execute(sql`select 1`), timeoutMs, 'postgres', logger),
    probe(() => queue.ping(), timeoutMs, 'queue', logger),
  ]);
  return {
    status: postgres.ok && queueCheck.ok ? 'ok' : 'degraded',
    checks: { postgres, queue: { ...queueCheck, backend: queue.backend } },
  };
}
