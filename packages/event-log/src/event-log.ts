import {
  applyEvents,
  ConcurrencyError,
  isTerminal,
  LeaseLostError,
  parseEvent,
  RunNotFoundError,
  type Clock,
  type EventType,
  type RunEvent,
  type RunState,
} from '@runstream/domain';
import { sqlArray, type Database } from '@runstream/db';
import { sql } from 'drizzle-orm';
import { eventWrites } from './event-writes.js';
import { decodeFeedCursor, encodeFeedCursor, feedStart } from './feed-cursor.js';
import { stateFromRow, type ProjectionRow } from './projection.js';

export interface AppendOptions {
  /** Optimistic concurrency: the run's current last seq as the caller last saw it. */
  expectedSeq?: number;
  /**
   * Write on behalf of the execution holding the run's lease under this fencing token; refused with
   * LeaseLostError once another execution has taken the lease over. `release` gives the lease up in the same
   * statement (a suspended or handed-off execution), so whoever is woken next can take it at once.
   */
  fence?: { token: number; release?: boolean };
}

export interface AppendResult {
  runId: string;
  /** Events written by this call, in seq order; empty when every event's key was already in the log. */
  events: RunEvent[];
  /** The run's last seq after the call. */
  lastSeq: number;
  state: RunState;
}

export interface ReadOptions {
  /** First seq to return (inclusive). Default 1. */
  fromSeq?: number;
  /** Page size. Default 500, at most 10,000. */
  limit?: number;
}

/** An event in the cross-run feed; `cursor` resumes the feed right after it. */
export type FeedEvent = RunEvent & { cursor: string };

export interface FeedPage {
  events: FeedEvent[];
  /** Pass as `after` for the next page; unchanged when the page is empty. */
  cursor: string;
}

export interface EventLogConfig {
  /** The pool, or a transaction (`db.transaction(tx => ...)`): appends then commit with the caller's transaction. */
  db: Pick<Database, 'execute'>;
  clock: Clock;
  /** NOTIFY channel announcing appends (see RunAppended). */
  channel: string;
}

export type EventLog = ReturnType<typeof createEventLog>;

const MAX_PAGE = 10_000;

type StoredEventRow = {
  run_id: string;
  seq: number;
  type: EventType;
  data: unknown;
  key: string | null;
  created_at: string | Date;
};

export function toRunEvent(row: StoredEventRow): RunEvent {
  return {
    runId: row.run_id,
    seq: row.seq,
    type: row.type,
    data: row.data,
    ...(row.key === null ? {} : { key: row.key }),
    createdAt: new Date(row.created_at),
  } as RunEvent;
}

function pageSize(limit: number | undefined, field: string): number {
  const size = limit ?? 500;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`${field} must be a positive integer`);
  return Math.min(size, MAX_PAGE);
}

export function createEventLog({ db, clock, channel }: EventLogConfig) {
  /**
   * Appends `events` to the run in one autocommitted statement. The UPDATE of the run row is guarded by the
   * last seq this call read, so the row lock it takes serializes writers: seqs are dense and, within a run, seq
   * order is commit order. A writer that loses the race re-reads and tries again (or, with `expectedSeq`,
   * fails with ConcurrencyError). Events whose key the run already holds are dropped before seqs are assigned.
   */
  async function append(runId: string, proposed: readonly unknown[], options: AppendOptions = {}): Promise<AppendResult> {
    const events = proposed.map((event, i) => parseEvent(event, `events[${i}]`));
    const keys = events.flatMap((event) => (event.key === undefined ? [] : [event.key]));

    for (;;) {
      const [current] = await db.execute<
        ProjectionRow & { existing_keys: string[]; lease_token: number; lease_owner: string | null }
      >(sql`
        select status, last_seq, attempts, retries, cancel_requested, started_at, finished_at, output, error,
          wake_at, lease_token, lease_owner,
          ${
            keys.length === 0
              ? sql`'{}'::text[]`
              : sql`array(select key from run_events where run_id = runs.id and key = any(${sqlArray(keys, 'text')}))`
          } as existing_keys
        from runs where id = ${runId}`);
      if (!current) throw new RunNotFoundError(runId);
      const { fence } = options;
      if (fence && (current.lease_token !== fence.token || current.lease_owner === null)) {
        throw new LeaseLostError(runId, fence.token);
      }
      if (options.expectedSeq !== undefined && options.expectedSeq !== current.last_seq) {
        throw new ConcurrencyError(runId, options.expectedSeq, current.last_seq);
      }
      const existing = new Set(current.existing_keys);
      const fresh = events.filter((event) => event.key === undefined || !existing.has(event.key));
      const before = stateFromRow(current);
      if (fresh.length === 0) return { runId, events: [], lastSeq: current.last_seq, state: before };

      const at = clock.now();
      const state = applyEvents(before, fresh, at);
      const firstSeq = current.last_seq + 1;
      const lastSeq = current.last_seq + fresh.length;
      const writes = eventWrites({ source: 'locked_run', runId, firstSeq, events: fresh, at, channel });
      const releaseLease = isTerminal(state.status) || fence?.release === true;
      const [result] = await db.execute<{ updated: number }>(sql`
        with locked_run as (
          update runs set
            last_seq = ${lastSeq},
            status = ${state.status},
            attempts = ${state.attempts},
            retries = ${state.retries},
            cancel_requested = ${state.cancelRequested},
            started_at = ${state.startedAt?.toISOString() ?? null}::timestamptz,
            finished_at = ${state.finishedAt?.toISOString() ?? null}::timestamptz,
            output = ${state.output === null ? null : JSON.stringify(state.output)}::jsonb,
            error = ${state.error === null ? null : JSON.stringify(state.error)}::jsonb,
            wake_at = ${state.wakeAt?.toISOString() ?? null}::timestamptz,
            updated_at = ${at.toISOString()}::timestamptz
            ${releaseLease ? sql`, lease_owner = null, lease_expires_at = null` : sql``}
          where id = ${runId} and last_seq = ${current.last_seq}
            ${fence ? sql`and lease_token = ${fence.token} and lease_owner is not null` : sql``}
          returning id
        ), ${writes.ctes}
        select (select count(*) from locked_run)::int as updated, ${writes.notified}`);
      if (result?.updated === 1) {
        return {
          runId,
          lastSeq,
          state,
          events: fresh.map((event, i) => ({ ...event, runId, seq: firstSeq + i, createdAt: at }) as RunEvent),
        };
      }
    }
  }

  /** One keyset page of a run's events, in seq order. */
  async function read(runId: string, options: ReadOptions = {}): Promise<RunEvent[]> {
    const fromSeq = options.fromSeq ?? 1;
    if (!Number.isInteger(fromSeq) || fromSeq < 1) throw new RangeError('fromSeq must be an integer ≥ 1');
    const rows = await db.execute<StoredEventRow>(sql`
      select run_id, seq, type, data, key, created_at from run_events
      where run_id = ${runId} and seq >= ${fromSeq}
      order by seq limit ${pageSize(options.limit, 'limit')}`);
    return rows.map(toRunEvent);
  }

  /** Every event of a run from `fromSeq`, page by page: memory stays bounded by the page size. */
  async function* readStream(runId: string, options: ReadOptions = {}): AsyncGenerator<RunEvent> {
    let fromSeq = options.fromSeq ?? 1;
    for (;;) {
      const page = await read(runId, { ...options, fromSeq });
      yield* page;
      if (page.length < pageSize(options.limit, 'limit')) return;
      fromSeq = page[page.length - 1]!.seq + 1;
    }
  }

  /**
   * The cross-run feed in (transaction id, position) order, returning only events of transactions older than
   * every transaction still in flight. A transaction that started earlier but commits later therefore cannot
   * slip in behind a reader's cursor: its events are withheld until it finishes, then read in order.
   */
  async function readAll(options: { after?: string; limit?: number } = {}): Promise<FeedPage> {
    const after = options.after === undefined ? feedStart : decodeFeedCursor(options.after);
    const rows = await db.execute<StoredEventRow & { transaction_id: string; position: string }>(sql`
      select run_id, seq, type, data, key, created_at, transaction_id::text, position::text
      from run_events
      where (transaction_id, position) > (${after.transactionId.toString()}::xid8, ${after.position.toString()}::bigint)
        and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      order by transaction_id, position
      limit ${pageSize(options.limit, 'limit')}`);
    const events = rows.map((row) => ({
      ...toRunEvent(row),
      cursor: encodeFeedCursor({ transactionId: BigInt(row.transaction_id), position: BigInt(row.position) }),
    }));
    return { events, cursor: events.at(-1)?.cursor ?? encodeFeedCursor(after) };
  }

  return { append, read, readStream, readAll };
}

