import { schedules } from '@runstream/db';
import { and, eq, inArray, lte } from 'drizzle-orm';
import type { StoreContext } from '../context.js';
import { toSchedule, type Schedule } from './schedule.js';

/** What the claimer did with a due schedule: the tick it fired last and the next one to fire. */
export interface ScheduleAdvance {
  lastFireAt: Date | null;
  nextFireAt: Date | null;
}

/**
 * Claims enabled schedules of `workflows` whose next tick is due with FOR UPDATE SKIP LOCKED and, in the same
 * transaction, hands each to `fire` and records where it leaves the schedule. Two nodes never fire one schedule
 * at once; a node that dies before its transaction commits leaves `next_fire_at` where it was, and the next
 * claimer fires the same ticks again, which the runs' idempotency keys make harmless.
 */
export function claimDueSchedules(
  { db }: StoreContext,
  { now, workflows, limit }: { now: Date; workflows: readonly string[]; limit: number },
  fire: (schedule: Schedule) => Promise<ScheduleAdvance>,
): Promise<number> {
  if (workflows.length === 0) return Promise.resolve(0);
  return db.transaction(async (tx) => {
    const rows = await tx
      .select()
      .from(schedules)
      .where(and(eq(schedules.enabled, true), lte(schedules.nextFireAt, now), inArray(schedules.workflow, [...workflows])))
      .orderBy(schedules.nextFireAt)
      .limit(limit)
      .for('update', { skipLocked: true });
    for (const row of rows) {
      const advance = await fire(toSchedule(row));
      await tx
        .update(schedules)
        .set({ nextFireAt: advance.nextFireAt, lastFireAt: advance.lastFireAt ?? row.lastFireAt, updatedAt: now })
        .where(eq(schedules.id, row.id));
    }
    return rows.length;
  });
}
