import { schedules } from '@runstream/db';
import { eq, sql } from 'drizzle-orm';
import type { StoreContext } from '../context.js';
import { toSchedule, type NewSchedule, type Schedule } from './schedule.js';

/** Inserts a schedule; null when one with that id exists already (nothing changed). */
export async function insertSchedule({ db, clock }: StoreContext, schedule: NewSchedule): Promise<Schedule | null> {
  const now = clock.now();
  const [row] = await db
    .insert(schedules)
    .values({ ...schedule, input: schedule.input ?? null, createdAt: now, updatedAt: now })
    .onConflictDoNothing({ target: schedules.id })
    .returning();
  return row ? toSchedule(row) : null;
}

/**
 * Creates or updates a schedule declared in code. An update keeps `enabled` (a pause made through the API
 * survives restarts) and keeps `next_fire_at` unless the cron or timezone changed or the schedule had none.
 */
export async function upsertSchedule({ db, clock }: StoreContext, schedule: NewSchedule): Promise<Schedule> {
  const now = clock.now();
  const [row] = await db
    .insert(schedules)
    .values({ ...schedule, input: schedule.input ?? null, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({
      target: schedules.id,
      set: {
        workflow: sql`excluded.workflow`,
        input: sql`excluded.input`,
        catchUp: sql`excluded.catch_up`,
        source: sql`excluded.source`,
        cron: sql`excluded.cron`,
        timezone: sql`excluded.timezone`,
        nextFireAt: sql`case
          when not ${schedules.enabled} then null
          when ${schedules.cron} is distinct from excluded.cron or ${schedules.timezone} is distinct from excluded.timezone
            or ${schedules.nextFireAt} is null then excluded.next_fire_at
          else ${schedules.nextFireAt} end`,
        updatedAt: sql`excluded.updated_at`,
      },
    })
    .returning();
  return toSchedule(row!);
}

/** Pauses (`nextFireAt` null) or resumes (from `nextFireAt`) a schedule; null when there is none. */
export async function setScheduleEnabled(
  { db, clock }: StoreContext,
  id: string,
  change: { enabled: boolean; nextFireAt: Date | null },
): Promise<Schedule | null> {
  const [row] = await db
    .update(schedules)
    .set({ enabled: change.enabled, nextFireAt: change.nextFireAt, updatedAt: clock.now() })
    .where(eq(schedules.id, id))
    .returning();
  return row ? toSchedule(row) : null;
}

/** Deletes a schedule; false when there was none. Runs it started stay. */
export async function deleteSchedule({ db }: StoreContext, id: string): Promise<boolean> {
  const rows = await db.delete(schedules).where(eq(schedules.id, id)).returning({ id: schedules.id });
  return rows.length === 1;
}
