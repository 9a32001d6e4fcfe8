import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/** NOTIFY on `channel`, autocommitted on its own (never inside an appending transaction). */
export async function sendNotification({ db }: StoreContext, channel: string, payload: string): Promise<void> {
  await db.execute(sql`select pg_notify(${channel}, ${payload})`);
}
