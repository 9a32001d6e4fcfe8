import { schedules } from '@runstream/db';
import { and, asc, eq, inArray, isNotNull, min } from 'drizzle-orm';
import type { StoreContext } from '../context.js';
import { toSchedule, type Schedule } from './schedule.js';

export async function getSchedule({ db }: StoreContext, id: string): Promise<Schedule | null> {
  const [row] = await db.select().from(schedules).where(eq(schedules.id, id));
  return row ? toSchedule(row) : null;
}

/** Every schedule, by id. */
export async function listSchedules({ db }: StoreContext): Promise<Schedule[]> {
  const rows = await db.select().from(schedules).orderBy(asc(schedules.id));
  return rows.map(toSchedule);
}

/** The earliest tick due among enabled schedules of these workflows; null when none is pending. */
export async function nextScheduleDueAt({ db }: StoreContext, workflows: readonly string[]): Promise<Date | null> {
  if (workflows.length === 0) return null;
  const [row] = await db
    .select({ at: min(schedules.nextFireAt) })
    .from(schedules)
    .where(and(eq(schedules.enabled, true), isNotNull(schedules.nextFireAt), inArray(schedules.workflow, [...workflows])));
  return row?.at ? new Date(row.at) : null;
}
