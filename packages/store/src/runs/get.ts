import { runs } from '@runstream/db';
import { eq, sql } from 'drizzle-orm';
import type { StoreContext } from '../context.js';
import { toRun, uuidPattern, type Run } from './run.js';

export async function getRun({ db }: StoreContext, id: string): Promise<Run | null> {
  if (!uuidPattern.test(id)) return null;
  const [row] = await db.select().from(runs).where(eq(runs.id, id));
  return row ? toRun(row) : null;
}

export async function getRunByIdempotencyKey({ db }: StoreContext, key: string): Promise<Run | null> {
  const [row] = await db.select().from(runs).where(eq(runs.idempotencyKey, key));
  return row ? toRun(row) : null;
}

/** When a suspended run (running, no lease holder) is due to wake; null when the run is not suspended. */
export async function getSuspendedWakeAt({ db }: StoreContext, id: string): Promise<Date | null> {
  const [run] = await db.execute<{ wake_at: string | null }>(sql`
    select wake_at::text from runs
    where id = ${id} and status = 'running' and lease_owner is null and wake_at is not null`);
  return run?.wake_at ? new Date(run.wake_at) : null;
}
