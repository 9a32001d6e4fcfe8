import type { RunEvent } from '@runstream/domain';
import { sql } from 'drizzle-orm';
import type { EventLogContext } from '../context.js';
import { decodeFeedCursor, encodeFeedCursor, feedStart } from '../feed-cursor.js';
import { pageSize, toRunEvent, type StoredEventRow } from './read.js';

/** An event in the cross-run feed; `cursor` resumes the feed right after it. */
export type FeedEvent = RunEvent & { cursor: string };

export interface FeedPage {
  events: FeedEvent[];
  /** Pass as `after` for the next page; unchanged when the page is empty. */
  cursor: string;
}

/**
 * The cross-run feed in (transaction id, position) order, returning only events of transactions older than
 * every transaction still in flight. A transaction that started earlier but commits later therefore cannot
 * slip in behind a reader's cursor: its events are withheld until it finishes, then read in order.
 */
export async function readAllEvents(
  { db }: EventLogContext,
  options: { after?: string; limit?: number } = {},
): Promise<FeedPage> {
  const after = options.after === undefined ? feedStart : decodeFeedCursor(options.after);
  const rows = await db.execute<StoredEventRow & { transaction_id: string; position: string }>(sql`
    select run_id, seq, type, data, key, created_at, transaction_id::text, position::text
    from run_events
    where (transaction_id, position) > (${after.transactionId.toString()}::xid8, ${after.position.toString()}::bigint)
      and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    -- Qualified: bare names would sort by the select list's text casts of the same name (99 after 103).
    order by run_events.transaction_id, run_events.position
    limit ${pageSize(options.limit, 'limit')}`);
  const events = rows.map((row) => ({
    ...toRunEvent(row),
    cursor: encodeFeedCursor({ transactionId: BigInt(row.transaction_id), position: BigInt(row.position) }),
  }));
  return { events, cursor: events.at(-1)?.cursor ?? encodeFeedCursor(after) };
}
