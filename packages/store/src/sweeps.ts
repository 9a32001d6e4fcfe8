import { sql, type SQL } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/** A run nobody is working on that should be, with the job id its recovery job is made under. */
export interface StrandedRun {
  runId: string;
  jobId: string;
}

/**
 * Runs nobody is working on that should be: leases that expired (crashed or partitioned workers), suspended
 * runs whose wake-up is overdue by `overdueMs` (not those waiting for a signal without a timeout), runs handed off or queued whose job was lost. Up to `limit` of
 * each kind.
 *
 * A job can be lost with the worker that took it: it stays active until the queue's stall check (30 s and more),
 * and is failed for good once it stalled too often — while the queue keeps the id taken for an hour. So the job
 * id also carries how many retry windows (5 × overdueMs) the run has been stranded: within a window, sweeps are
 * absorbed by the job already made; in the next, a job lost with a dead worker no longer blocks the run's recovery.
 */
export async function findStrandedRuns(
  { db, clock }: StoreContext,
  { overdueMs, limit }: { overdueMs: number; limit: number },
): Promise<StrandedRun[]> {
  const now = clock.now();
  const overdue = new Date(now.getTime() - overdueMs).toISOString();
  const retryMs = overdueMs * 5;
  const window = (since: SQL) =>
    sql`floor(extract(epoch from (${now.toISOString()}::timestamptz - ${since})) * 1000 / ${retryMs})::bigint`;
  const rows = await db.execute<{ id: string; job_id: string }>(sql`
    (select id, id || '-recover-' || lease_token || '-' || ${window(sql`lease_expires_at`)} as job_id from runs
      where status in ('queued', 'running') and lease_owner is not null and lease_expires_at < ${now.toISOString()}::timestamptz
      order by lease_expires_at limit ${limit})
    union all
    (select id, id || '-resume-' || last_seq || '-' || ${window(sql`coalesce(wake_at, updated_at)`)} as job_id from runs
      where status = 'running' and lease_owner is null and coalesce(wake_at, updated_at) < ${overdue}::timestamptz
        -- A run waiting for a signal without a timeout is not stranded: the signal wakes it.
        and not (waiting is not null and wake_at is null)
      limit ${limit})
    union all
    -- In the first window, the dispatcher's own job id for a queued run, so a job still waiting in the queue
    -- absorbs this one.
    (select id, id || '-' || last_seq
        || case when ${window(sql`updated_at`)} = 0 then '' else '-sweep-' || ${window(sql`updated_at`)} end as job_id
      from runs
      where status = 'queued' and lease_owner is null and updated_at < ${overdue}::timestamptz
      limit ${limit})`);
  return rows.map((row) => ({ runId: row.id, jobId: row.job_id }));
}
