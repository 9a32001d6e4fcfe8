import type { JobQueue } from '@runstream/queue';
import type { Store } from '@runstream/store';

/**
 * Finds runs nobody is working on that should be, and dispatches them: leases that expired (crashed or
 * partitioned workers), suspended runs whose wake-up job is overdue, runs handed off or queued whose job was
 * lost. Every node may sweep; the job ids are deterministic (see `findStranded`), so sweeps on several nodes
 * make one job each.
 */
export function createSweeper(store: Pick<Store, 'sweeps'>, queue: JobQueue, options: { overdueMs: number }) {
  return async function sweep(limit = 200): Promise<number> {
    const stranded = await store.sweeps.findStranded({ overdueMs: options.overdueMs, limit });
    for (const run of stranded) await queue.enqueue({ runId: run.runId, reason: 'recover' }, { jobId: run.jobId });
    return stranded.length;
  };
}
