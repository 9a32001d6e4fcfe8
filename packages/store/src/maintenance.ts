import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/**
 * Refreshes the planner's statistics of the event log now, as autovacuum does in time; on a table never
 * analyzed, the planner reads the whole rest of a long run and sorts it for every page.
 */
export async function analyzeEventLog({ db }: StoreContext): Promise<void> {
  await db.execute(sql`analyze run_events`);
}
