import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/** How many runs are in each status (statuses with no runs are absent). */
export async function countRunsByStatus({ db }: StoreContext): Promise<Map<string, number>> {
  const rows = await db.execute<{ status: string; count: number }>(
    sql`select status, count(*)::int as count from runs group by status`,
  );
  return new Map(rows.map((row) => [row.status, Number(row.count)]));
}

/**
 * Events appended so far, from the identity sequence behind run_events.position: one read, however large the
 * log (counts rolled-back appends too, so it is an upper bound).
 */
export async function countEventsAppended({ db }: StoreContext): Promise<number> {
  const [row] = await db.execute<{ appended: string | null }>(
    sql`select pg_sequence_last_value(pg_get_serial_sequence('run_events', 'position')::regclass)::text as appended`,
  );
  return Number(row?.appended ?? 0);
}

/** Outbox rows not yet published (nor parked), and the age of the oldest in seconds (0 when none). */
export async function measureOutboxBacklog({ db, clock }: StoreContext): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const [row] = await db.execute<{ pending: number; oldest_age: number | null }>(sql`
    select count(*)::int as pending,
      extract(epoch from (${clock.now().toISOString()}::timestamptz - min(created_at)))::float8 as oldest_age
    from outbox where published_at is null and failed_at is null`);
  return { pending: Number(row?.pending ?? 0), oldestAgeSeconds: Math.max(0, Number(row?.oldest_age ?? 0)) };
}
