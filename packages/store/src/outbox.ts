import { sqlArray } from '@runstream/db';
import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/** One outbox row: "run R got events firstSeq..lastSeq of these types". Ids only, never event bodies. */
export interface OutboxMessage {
  id: number;
  runId: string;
  firstSeq: number;
  lastSeq: number;
  eventTypes: string[];
  /** Failed publish attempts so far. */
  attempts: number;
}

/** Rows claimed by one drain pass, and what the pass may record about them before its transaction ends. */
export interface ClaimedOutboxBatch {
  /** How many rows were claimed, including those held back behind an earlier row of their run. */
  claimed: number;
  /** The claimed rows that may be published now, in id order. */
  messages: OutboxMessage[];
  markPublished(ids: readonly number[], at: Date): Promise<void>;
  /** A failed publish that will be tried again from `availableAt`. */
  reschedule(id: number, failure: { attempts: number; lastError: string; availableAt: Date }): Promise<void>;
  /** A failed publish that used its last attempt: the row is parked as failed and never claimed again. */
  park(id: number, failure: { attempts: number; lastError: string; availableAt: Date; failedAt: Date }): Promise<void>;
}

interface ClaimedRow extends Record<string, unknown> {
  id: number | string;
  run_id: string;
  first_seq: number;
  last_seq: number;
  event_types: string[];
  attempts: number;
  blocked: boolean;
}

/**
 * Claims up to `limit` available rows with FOR UPDATE SKIP LOCKED and runs `work` on them inside the same
 * transaction, so two drainers never take the same row and a drainer that dies mid-pass releases its rows
 * (at-least-once). A row is held back while an earlier row of its run is unpublished and not ours (claimed by
 * another drainer, or waiting out a backoff), so each run's rows go out in seq order.
 */
export function claimOutboxBatch<T>(
  { db }: StoreContext,
  { now, limit }: { now: Date; limit: number },
  work: (batch: ClaimedOutboxBatch) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const at = now.toISOString();
    const rows = await tx.execute<ClaimedRow>(sql`
      with claimed as (
        select id, run_id, first_seq, last_seq, event_types, attempts from outbox
        where published_at is null and failed_at is null and available_at <= ${at}::timestamptz
          -- Rows held back behind an earlier row of their run that waits out a backoff stay unclaimed, so they
          -- cannot fill every batch and starve other runs (nor spin the loop) until that backoff ends.
          and not exists (
            select 1 from outbox waiting
            where waiting.run_id = outbox.run_id and waiting.id < outbox.id
              and waiting.published_at is null and waiting.failed_at is null
              and waiting.available_at > ${at}::timestamptz
          )
        order by id
        limit ${limit}
        for update skip locked
      )
      select claimed.*, exists (
        select 1 from outbox earlier
        where earlier.run_id = claimed.run_id and earlier.id < claimed.id
          and earlier.published_at is null and earlier.failed_at is null
          and earlier.id not in (select id from claimed)
      ) as blocked
      from claimed order by id`);

    const recordFailure = async (
      id: number,
      failure: { attempts: number; lastError: string; availableAt: Date },
      failedAt: Date | null,
    ) => {
      await tx.execute(sql`
        update outbox set attempts = ${failure.attempts}, last_error = ${failure.lastError},
          available_at = ${failure.availableAt.toISOString()}::timestamptz,
          failed_at = ${failedAt?.toISOString() ?? null}::timestamptz
        where id = ${id}`);
    };

    return work({
      claimed: rows.length,
      messages: rows
        .filter((row) => !row.blocked)
        .map((row) => ({
          id: Number(row.id),
          runId: row.run_id,
          firstSeq: row.first_seq,
          lastSeq: row.last_seq,
          eventTypes: row.event_types,
          attempts: row.attempts,
        })),
      async markPublished(ids, publishedAt) {
        if (ids.length === 0) return;
        await tx.execute(
          sql`update outbox set published_at = ${publishedAt.toISOString()}::timestamptz where id = any(${sqlArray([...ids], 'bigint')})`,
        );
      },
      reschedule: (id, failure) => recordFailure(id, failure, null),
      park: (id, failure) => recordFailure(id, failure, failure.failedAt),
    });
  });
}
