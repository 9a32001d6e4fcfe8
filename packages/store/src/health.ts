import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/** One round trip to PostgreSQL: resolves when the database answers. */
export async function ping({ db }: StoreContext): Promise<void> {
  await db.execute(sql`select 1`);
}
