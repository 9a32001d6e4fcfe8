import type { Clock } from '@runstream/domain';
import type { Database } from '@runstream/db';
import { sql } from 'drizzle-orm';
import type { JobQueue } from '@runstream/queue';

/**
 * Finds runs nobody is working on that should be, and dispatches them: leases that expired (crashed or
 * partitioned workers), suspended runs whose wake-up job is overdue, runs handed off or queued whose job was
 * lost. Every node may sweep; the job ids are deterministic, so sweeps on several nodes make one job each.
 */
export function createSweeper(db: Database, queue: JobQueue, clock: Clock, options: { overdueMs: number }) {
  return async function sweep(limit = 200): Promise<number> {
    const now = clock.now();
    const overdue = new Date(now.getTime() - options.overdueMs).toISOString();
    const rows = await db.execute<{ id: string; job_id: string }>(sql`
      (select id, id || '-recover-' || lease_token as job_id from runs
        where status in ('queued', 'running') and lease_owner is not null and lease_expires_at < ${now.toISOString()}::timestamptz
        order by lease_expires_at limit ${limit})
      union all
      (select id, id || '-resume-' || last_seq as job_id from runs
        where status = 'running' and lease_owner is null and coalesce(wake_at, updated_at) < ${overdue}::timestamptz
        limit ${limit})
      union all
      -- The dispatcher's own job id for a queued run, so a job still waiting in the queue absorbs this one.
      (select id, id || '-' || last_seq as job_id from runs
        where status = 'queued' and lease_owner is null and updated_at < ${overdue}::timestamptz
        limit ${limit})`);
    for (const row of rows) await queue.enqueue({ runId: row.id, reason: 'recover' }, { jobId: row.job_id });
    return rows.length;
  };
}
