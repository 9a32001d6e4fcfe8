import { backoffDelay, type Clock } from '@runstream/domain';
import { sqlArray, type Database } from '@runstream/db';
import { sql } from 'drizzle-orm';

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

/** Where drained messages go (the bus, the job queue). Throwing keeps the message for a later retry. */
export interface OutboxPublisher {
  publish(message: OutboxMessage): Promise<void>;
}

export interface DrainResult {
  /** Rows claimed this pass (published, retried or held back behind an earlier row of the same run). */
  claimed: number;
  published: number;
  /** Rows whose publish threw and are scheduled for another attempt. */
  retrying: number;
  /** Rows that used their last attempt and are now parked as failed. */
  failed: number;
}

export interface OutboxDrainerConfig {
  db: Database;
  publisher: OutboxPublisher;
  clock: Clock;
  /** Publish attempts before a row is parked as failed. Default 10. */
  maxAttempts?: number;
  /** Delay before attempt `n + 1` after `n` failures. Default: exponential from 1 s, capped at 5 min, jittered. */
  backoffMs?: (failures: number) => number;
  /** Rows per pass. Default 200. */
  batchSize?: number;
  /** Idle time between passes when nothing wakes the loop. Default 1 s. */
  pollIntervalMs?: number;
  onError?: (error: unknown) => void;
}

export type OutboxDrainer = ReturnType<typeof createOutboxDrainer>;

export function exponentialBackoff(baseMs: number, capMs: number): (failures: number) => number {
  return (failures) => backoffDelay(failures, { baseMs, maxMs: capMs });
}

interface ClaimedRow extends Record<string, unknown> {
  id: number | string;
  run_id: string;
  first_seq: number;
  last_seq: number;
  event_types: string[];
  attempts: number;
}

export function createOutboxDrainer(config: OutboxDrainerConfig) {
  const { db, publisher, clock } = config;
  const maxAttempts = config.maxAttempts ?? 10;
  const backoffMs = config.backoffMs ?? exponentialBackoff(1_000, 300_000);
  const batchSize = config.batchSize ?? 200;
  const pollIntervalMs = config.pollIntervalMs ?? 1_000;
  const onError = config.onError ?? (() => {});

  /**
   * One pass. Rows are claimed with FOR UPDATE SKIP LOCKED inside a transaction that stays open while they are
   * published, so two drainers never take the same row, and a drainer that dies mid-pass releases its rows for
   * another pass (at-least-once). A row is held back while an earlier row of its run is unpublished and not
   * ours (claimed by another drainer, or waiting out a backoff), so each run's rows go out in seq order.
   */
  async function drainPass(limit = batchSize): Promise<DrainResult> {
    return db.transaction(async (tx) => {
      const now = clock.now().toISOString();
      const rows = await tx.execute<ClaimedRow>(sql`
        with claimed as (
          select id, run_id, first_seq, last_seq, event_types, attempts from outbox
          where published_at is null and failed_at is null and available_at <= ${now}::timestamptz
            -- Rows held back behind an earlier row of their run that waits out a backoff stay unclaimed, so they
            -- cannot fill every batch and starve other runs (nor spin the loop) until that backoff ends.
            and not exists (
              select 1 from outbox waiting
              where waiting.run_id = outbox.run_id and waiting.id < outbox.id
                and waiting.published_at is null and waiting.failed_at is null
                and waiting.available_at > ${now}::timestamptz
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

      const byRun = new Map<string, OutboxMessage[]>();
      for (const row of rows) {
        if (row.blocked) continue;
        const message: OutboxMessage = {
          id: Number(row.id),
          runId: row.run_id,
          firstSeq: row.first_seq,
          lastSeq: row.last_seq,
          eventTypes: row.event_types,
          attempts: row.attempts,
        };
        byRun.set(message.runId, [...(byRun.get(message.runId) ?? []), message]);
      }

      const published: number[] = [];
      const failures: { message: OutboxMessage; error: unknown }[] = [];
      await Promise.all(
        [...byRun.values()].map(async (messages) => {
          for (const message of messages) {
            try {
              await publisher.publish(message);
              published.push(message.id);
            } catch (error) {
              // Later rows of this run stay unpublished so the run's order holds.
              failures.push({ message, error });
              return;
            }
          }
        }),
      );

      if (published.length > 0) {
        await tx.execute(sql`update outbox set published_at = ${now}::timestamptz where id = any(${sqlArray(published, 'bigint')})`);
      }
      let failed = 0;
      for (const { message, error } of failures) {
        const attempts = message.attempts + 1;
        const giveUp = attempts >= maxAttempts;
        if (giveUp) failed++;
        const retryAt = new Date(clock.now().getTime() + backoffMs(attempts)).toISOString();
        await tx.execute(sql`
          update outbox set attempts = ${attempts}, last_error = ${errorText(error)},
            available_at = ${retryAt}::timestamptz,
            failed_at = ${giveUp ? now : null}::timestamptz
          where id = ${message.id}`);
      }
      return { claimed: rows.length, published: published.length, retrying: failures.length - failed, failed };
    });
  }

  /** One deterministic pass for tests and tools: returns how many rows it published. */
  async function drainOnce(options: { limit?: number } = {}): Promise<number> {
    return (await drainPass(options.limit)).published;
  }

  /** Passes until one claims nothing that it could publish. Returns the total published. */
  async function drainUntilIdle(): Promise<number> {
    let total = 0;
    for (;;) {
      const pass = await drainPass();
      total += pass.published;
      if (pass.published === 0) return total;
    }
  }

  let running = false;
  let loop: Promise<void> | null = null;
  let wakeUp: (() => void) | null = null;
  let wakeRequested = false;

  /** Ends the current idle wait early; a wake during a pass triggers another pass right after it. */
  function wake(): void {
    wakeRequested = true;
    wakeUp?.();
  }

  function idle(ms: number): Promise<void> {
    if (wakeRequested || !running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });
  }

  async function runLoop(): Promise<void> {
    let consecutiveErrors = 0;
    while (running) {
      wakeRequested = false;
      try {
        const pass = await drainPass();
        consecutiveErrors = 0;
        if (pass.claimed === batchSize) continue;
        await idle(pollIntervalMs);
      } catch (error) {
        onError(error);
        consecutiveErrors++;
        await idle(Math.min(pollIntervalMs * 2 ** consecutiveErrors, 30_000));
      }
    }
  }

  return {
    drainOnce,
    drainUntilIdle,
    wake,
    /** Starts the background loop: a pass on every wake, and at least every `pollIntervalMs`. */
    start(): void {
      if (running) return;
      running = true;
      loop = runLoop();
    },
    /** Stops the loop after the pass in hand has finished. */
    async stop(): Promise<void> {
      running = false;
      wakeUp?.();
      await loop;
      loop = null;
    },
  };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 2_000);
}
