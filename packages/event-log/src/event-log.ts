import {
  applyEvents,
  ConcurrencyError,
  isTerminal,
  LeaseLostError,
  leavesRunningStateAsIs,
  parseEvent,
  RunNotFoundError,
  type Clock,
  type EventType,
  type NewEvent,
  type RunAppended,
  type RunEvent,
  type RunState,
} from '@runstream/domain';
import { pgErrorCode, pgErrorConstraint, sqlArray, type Database } from '@runstream/db';
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
  /**
   * Called after every append: wakes local subscribers and announces it to other nodes. Inside a caller's
   * transaction it runs before that commits; a listener woken early re-reads, finds nothing yet, and is woken
   * again by the outbox drainer.
   */
  onAppended?: (signal: RunAppended) => void;
}

export type EventLog = ReturnType<typeof createEventLog>;

const MAX_PAGE = 10_000;

/**
 * Advisory-lock class of a run's appenders (the two-int form; the run id is hashed into the second int). An
 * UPDATE takes its transaction id before it waits for the row, so a writer that waited and lost the race would
 * retry holding an id older than a writer that slipped in meanwhile — harmless for an autocommitted append
 * (it retries in a new transaction), but an append inside a caller's transaction keeps the old id, and the feed
 * (transaction id order) would show the run's seqs out of order. The advisory lock needs no transaction id:
 * appenders take it before the UPDATE, so each gets its id after the run's previous appender committed.
 * (A caller's transaction that wrote elsewhere before appending already holds an older id; that stays unsafe.)
 */
const APPEND_LOCK_CLASS = 0x52756e41; // "RunA"

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

export function createEventLog({ db, clock, onAppended }: EventLogConfig) {
  const appendLock = (runId: string) => sql`select pg_advisory_xact_lock(${APPEND_LOCK_CLASS}, hashtext(${runId}))`;
  const fenceGuard = (fence: AppendOptions['fence']) =>
    fence ? sql`and lease_token = ${fence.token} and lease_owner is not null` : sql``;

  function written(runId: string, events: readonly NewEvent[], baseSeq: number, at: Date, state: RunState): AppendResult {
    const lastSeq = baseSeq + events.length;
    onAppended?.({ runId, lastSeq });
    return {
      runId,
      lastSeq,
      state,
      events: events.map((event, i) => ({ ...event, runId, seq: baseSeq + 1 + i, createdAt: at }) as RunEvent),
    };
  }

  /**
   * One statement, one round trip, for the bulk of a log: events that leave a running run's projection as it
   * is (steps, chunks, outputs). Seqs are assigned in SQL under the row lock the UPDATE takes. Returns null when
   * the general path must decide instead: the run is missing or not running, the fence does not hold, or a key
   * is already in the log (the unique index refuses the whole statement, so nothing was written).
   */
  async function appendNeutral(
    runId: string,
    events: readonly NewEvent[],
    fence: AppendOptions['fence'],
  ): Promise<AppendResult | null> {
    const at = clock.now();
    try {
      const [row] = await db.execute<ProjectionRow & { base_seq: number }>(sql`
        with append_lock as (${appendLock(runId)}), locked_run as (
          update runs set last_seq = last_seq + ${events.length}, updated_at = ${at.toISOString()}::timestamptz
            ${fence?.release ? sql`, lease_owner = null, lease_expires_at = null` : sql``}
          where id = ${runId} and status = 'running' and exists (select from append_lock) ${fenceGuard(fence)}
          returning id, last_seq - ${events.length} as base_seq, status, last_seq, attempts, retries,
            cancel_requested, started_at, finished_at, output, error, wake_at
        ), ${eventWrites({ source: 'locked_run', events, at })}
        select * from locked_run`);
      return row ? written(runId, events, row.base_seq, at, stateFromRow(row)) : null;
    } catch (error) {
      if (pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'run_events_run_key_key') return null;
      throw error;
    }
  }

  /**
   * Appends `events` to the run in one autocommitted statement. Events that leave a running run as it is take
   * the single-statement path above. Otherwise the run's projection is read, the events are folded through the
   * state machine, and the write is guarded by the last seq that read saw, so the row lock the UPDATE takes
   * serializes writers: seqs are dense and, within a run, seq order is commit order. A writer that loses the
   * race re-reads and tries again (or, with `expectedSeq`, fails with ConcurrencyError). Events whose key the
   * run already holds (or that repeat a key earlier in the batch) are dropped before seqs are assigned.
   * Subscribers are told after the commit, through `onAppended`: never from inside the transaction.
   */
  async function append(runId: string, proposed: readonly unknown[], options: AppendOptions = {}): Promise<AppendResult> {
    const events = proposed.map((event, i) => parseEvent(event, `events[${i}]`));
    const { fence, expectedSeq } = options;
    if (events.length > 0 && expectedSeq === undefined && events.every(leavesRunningStateAsIs)) {
      const result = await appendNeutral(runId, events, fence);
      if (result) return result;
    }
    const keys = [...new Set(events.flatMap((event) => (event.key === undefined ? [] : [event.key])))];

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
      if (fence && (current.lease_token !== fence.token || current.lease_owner === null)) {
        throw new LeaseLostError(runId, fence.token);
      }
      if (expectedSeq !== undefined && expectedSeq !== current.last_seq) {
        throw new ConcurrencyError(runId, expectedSeq, current.last_seq);
      }
      const seen = new Set(current.existing_keys);
      const fresh = events.filter((event) => {
        if (event.key === undefined) return true;
        if (seen.has(event.key)) return false;
        seen.add(event.key);
        return true;
      });
      const before = stateFromRow(current);
      if (fresh.length === 0) return { runId, events: [], lastSeq: current.last_seq, state: before };

      const at = clock.now();
      const state = applyEvents(before, fresh, at);
      const releaseLease = isTerminal(state.status) || fence?.release === true;
      const [result] = await db.execute<{ id: string }>(sql`
        with append_lock as (${appendLock(runId)}), locked_run as (
          update runs set
            last_seq = ${current.last_seq + fresh.length},
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
          where id = ${runId} and last_seq = ${current.last_seq} and exists (select from append_lock)
            ${fenceGuard(fence)}
          returning id, ${current.last_seq}::integer as base_seq
        ), ${eventWrites({ source: 'locked_run', events: fresh, at })}
        select id from locked_run`);
      if (result) return written(runId, fresh, current.last_seq, at, state);
    }
  }

  /** One keyset page of a run's events, in seq order. */
  async function read(runId: string, options: ReadOptions = {}): Promise<RunEvent[]> {
    const fromSeq = options.fromSeq ?? 1;
    if (!Number.isInteger(fromSeq) || fromSeq < 1) throw new RangeError('fromSeq must be an integer ≥ 1');
    const limit = pageSize(options.limit, 'limit');
    // Seqs are dense, so the upper bound changes nothing but the plan: without it, on a table whose statistics do
    // not yet know a long run, PostgreSQL bitmap-scans and sorts the whole rest of the run for every page.
    const rows = await db.execute<StoredEventRow>(sql`
      select run_id, seq, type, data, key, created_at from run_events
      where run_id = ${runId} and seq >= ${fromSeq} and seq < ${fromSeq + limit}
      order by seq limit ${limit}`);
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
      -- Qualified: bare names would sort by the select list's text casts of the same name (99 after 103).
      order by run_events.transaction_id, run_events.position
      limit ${pageSize(options.limit, 'limit')}`);
    const events = rows.map((row) => ({
      ...toRunEvent(row),
      cursor: encodeFeedCursor({ transactionId: BigInt(row.transaction_id), position: BigInt(row.position) }),
    }));
    return { events, cursor: events.at(-1)?.cursor ?? encodeFeedCursor(after) };
  }

  return { append, read, readStream, readAll };
}

