import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';
import { encodeFeedCursor, positionBeforeTransaction } from './feed-cursor.js';

/**
 * The feed position right after everything `readAll` can return now: only what commits from here on follows.
 * `readAll` returns transactions older than the reader's snapshot xmin; every transaction from xmin on is still
 * to come.
 */
export async function currentFeedCursor({ db }: StoreContext): Promise<string> {
  const [row] = await db.execute<{ xmin: string }>(sql`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`);
  if (!row) throw new Error('no snapshot');
  return encodeFeedCursor(positionBeforeTransaction(BigInt(row.xmin)));
}
