import type { Clock } from '@runstream/domain';
import type { Database } from '@runstream/db';
import { sql, type SQL } from 'drizzle-orm';
import type { JobQueue } from '@runstream/queue';

/**
 * Finds runs nobody is working on that should be, and dispatches them: leases that expired (crashed or
 * partitioned workers), suspended runs whose wake-up job is overdue, runs handed off or queued whose job was
 * lost. Every node may sweep; the job ids are deterministic, so sweeps on several nodes make one job each.
 *
 * A job can be lost with the worker that took it: it stays active until the queue's stall check (30 s and more),
 * and is failed for good once it stalled too often — while the queue keeps the id taken for an hour. So the id
 * also carries how many retry windows (5 × overdueMs) the run has been stranded: within a window, sweeps are
 * absorbed by the job already made; in the next, a job lost with a dead worker no longer blocks the run's recovery.
 */
export function createSweeper(db: Database, queue: JobQueue, clock: Clock, options: { overdueMs: number }) {
  return async function sweep(limit = 200): Promise<number> {
    const now = clock.now();
    const overdue = new Date(now.getTime() - options.overdueMs).toISOString();
    const retryMs = options.overdueMs * 5;
    const window = (since: SQL) =>
      sql`floor(extract(epoch from (${now.toISOString()}::timestamptz - ${since})) * 1000 / ${retryMs})::bigint`;
    const rows = await db.execute<{ id: string; job_id: string }>(sql`
      (select id, id || '-recover-' || lease_token || '-' || ${window(sql`lease_expires_at`)} as job_id from runs
        where status in ('queued', 'running') and lease_owner is not null and lease_expires_at < ${now.toISOString()}::timestamptz
        order by lease_expires_at limit ${limit})
      union all
      (select id, id || '-resume-' || last_seq || '-' || ${window(sql`coalesce(wake_at, updated_at)`)} as job_id from runs
        where status = 'running' and lease_owner is null and coalesce(wake_at, updated_at) < ${overdue}::timestamptz
        limit ${limit})
      union all
      -- In the first window, the dispatcher's own job id for a queued run, so a job still waiting in the queue
      -- absorbs this one.
      (select id, id || '-' || last_seq
          || case when ${window(sql`updated_at`)} = 0 then '' else '-sweep-' || ${window(sql`updated_at`)} end as job_id
        from runs
        where status = 'queued' and lease_owner is null and updated_at < ${overdue}::timestamptz
        limit ${limit})`);
    for (const row of rows) await queue.enqueue({ runId: row.id, reason: 'recover' }, { jobId: row.job_id });
    return rows.length;
  };
}
