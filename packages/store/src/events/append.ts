import {
  applyEvents,
  ConcurrencyError,
  isTerminal,
  leavesRunningStateAsIs,
  parseEvent,
  RunNotFoundError,
  type NewEvent,
  type RunEvent,
  type RunState,
} from '@runstream/domain';
import { pgErrorCode, pgErrorConstraint, sqlArray } from '@runstream/db';
import { sql } from 'drizzle-orm';
import type { EventLogContext } from '../context.js';
import { checkFence, fenceHolds, releasedLease, type Fence } from '../leases.js';
import { stateFromRow, type ProjectionRow } from '../projection.js';
import { eventWrites, needsOutboxRow } from './event-writes.js';

export interface AppendOptions {
  /** Optimistic concurrency: the run's current last seq as the caller last saw it. */
  expectedSeq?: number;
  /**
   * Write on behalf of the execution holding the run's lease under this fencing token; refused with
   * LeaseLostError once another execution has taken the lease over. `release` gives the lease up in the same
   * statement (a suspended or handed-off execution), so whoever is woken next can take it at once.
   */
  fence?: Fence;
}

export interface AppendResult {
  runId: string;
  /** Events written by this call, in seq order; empty when every event's key was already in the log. */
  events: RunEvent[];
  /** The run's last seq after the call. */
  lastSeq: number;
  state: RunState;
}

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

const appendLock = (runId: string) => sql`select pg_advisory_xact_lock(${APPEND_LOCK_CLASS}, hashtext(${runId}))`;

function written(
  { onAppended, known }: EventLogContext,
  runId: string,
  events: readonly NewEvent[],
  baseSeq: number,
  at: Date,
  state: RunState,
  outboxed: boolean,
): AppendResult {
  const lastSeq = baseSeq + events.length;
  known?.remember(runId, lastSeq, state);
  onAppended?.({ runId, lastSeq }, outboxed);
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
  context: EventLogContext,
  runId: string,
  events: readonly NewEvent[],
  fence: Fence | undefined,
): Promise<AppendResult | null> {
  const at = context.clock.now();
  // Neutral events leave the run running.
  const outboxed = needsOutboxRow(fence, 'running');
  try {
    const [row] = await context.db.execute<ProjectionRow & { base_seq: number }>(sql`
      with append_lock as (${appendLock(runId)}), locked_run as (
        update runs set last_seq = last_seq + ${events.length}, updated_at = ${at.toISOString()}::timestamptz
          ${releasedLease(fence?.release === true)}
        where id = ${runId} and status = 'running' and exists (select from append_lock) ${fenceHolds(fence)}
        returning id, last_seq - ${events.length} as base_seq, status, last_seq, attempts, retries,
          cancel_requested, started_at, finished_at, output, error, wake_at, waiting
      ), ${eventWrites({ source: 'locked_run', events, at, outboxed })}
      select * from locked_run`);
    return row ? written(context, runId, events, row.base_seq, at, stateFromRow(row), outboxed) : null;
  } catch (error) {
    if (pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'run_events_run_key_key') return null;
    throw error;
  }
}

/**
 * Writes events folded into `state` from the projection at `baseSeq`, guarded by that seq (and the fence):
 * false when the run moved on meanwhile (or the fence no longer holds, or the run is gone), and nothing was
 * written.
 */
async function writeFolded(
  context: EventLogContext,
  runId: string,
  fresh: readonly NewEvent[],
  { baseSeq, state, at, fence }: { baseSeq: number; state: RunState; at: Date; fence: Fence | undefined },
): Promise<boolean> {
  const [result] = await context.db.execute<{ id: string }>(sql`
    with append_lock as (${appendLock(runId)}), locked_run as (
      update runs set
        last_seq = ${baseSeq + fresh.length},
        status = ${state.status},
        attempts = ${state.attempts},
        retries = ${state.retries},
        cancel_requested = ${state.cancelRequested},
        started_at = ${state.startedAt?.toISOString() ?? null}::timestamptz,
        finished_at = ${state.finishedAt?.toISOString() ?? null}::timestamptz,
        output = ${state.output === null ? null : JSON.stringify(state.output)}::jsonb,
        error = ${state.error === null ? null : JSON.stringify(state.error)}::jsonb,
        wake_at = ${state.wakeAt?.toISOString() ?? null}::timestamptz,
        waiting = ${state.waiting === null ? null : JSON.stringify(state.waiting)}::jsonb,
        updated_at = ${at.toISOString()}::timestamptz
        ${releasedLease(isTerminal(state.status) || fence?.release === true)}
        ${isTerminal(state.status) ? sql`, waiting_reason = null` : sql``}
      where id = ${runId} and last_seq = ${baseSeq} and exists (select from append_lock)
        ${fenceHolds(fence)}
      returning id, ${baseSeq}::integer as base_seq
    ), ${eventWrites({ source: 'locked_run', events: fresh, at, outboxed: needsOutboxRow(fence, state.status) })}
    select id from locked_run`);
  return result !== undefined;
}

/**
 * A status change in one statement, folded from the projection this store wrote last (KnownProjections):
 * null when there is none, the caller's `expectedSeq` is not its seq, the batch carries keys (only a read
 * sees which are in the log already), the fold refuses the events (the known projection may be behind), or the
 * guarded write finds the run moved on: then the general path reads and decides.
 */
async function appendFromKnown(
  context: EventLogContext,
  runId: string,
  events: readonly NewEvent[],
  { fence, expectedSeq }: AppendOptions,
): Promise<AppendResult | null> {
  const known = context.known?.get(runId);
  if (!known || events.some((event) => event.key !== undefined)) return null;
  if (expectedSeq !== undefined && expectedSeq !== known.lastSeq) return null;
  const at = context.clock.now();
  let state: RunState;
  try {
    state = applyEvents(known.state, events, at);
  } catch {
    return null;
  }
  if (!(await writeFolded(context, runId, events, { baseSeq: known.lastSeq, state, at, fence }))) {
    context.known?.forget(runId);
    return null;
  }
  return written(context, runId, events, known.lastSeq, at, state, needsOutboxRow(fence, state.status));
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
export async function appendEvents(
  context: EventLogContext,
  runId: string,
  proposed: readonly unknown[],
  options: AppendOptions = {},
): Promise<AppendResult> {
  const { db, clock } = context;
  const events = proposed.map((event, i) => parseEvent(event, `events[${i}]`));
  const { fence, expectedSeq } = options;
  if (events.length > 0 && expectedSeq === undefined && events.every(leavesRunningStateAsIs)) {
    const result = await appendNeutral(context, runId, events, fence);
    if (result) return result;
  } else if (events.length > 0) {
    const result = await appendFromKnown(context, runId, events, options);
    if (result) return result;
  }
  const keys = [...new Set(events.flatMap((event) => (event.key === undefined ? [] : [event.key])))];

  for (;;) {
    const [current] = await db.execute<
      ProjectionRow & { existing_keys: string[]; lease_token: number; lease_owner: string | null }
    >(sql`
      select status, last_seq, attempts, retries, cancel_requested, started_at, finished_at, output, error,
        wake_at, waiting, lease_token, lease_owner,
        ${
          keys.length === 0
            ? sql`'{}'::text[]`
            : sql`array(select key from run_events where run_id = runs.id and key = any(${sqlArray(keys, 'text')}))`
        } as existing_keys
      from runs where id = ${runId}`);
    if (!current) throw new RunNotFoundError(runId);
    checkFence(runId, fence, current);
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
    const done = await writeFolded(context, runId, fresh, { baseSeq: current.last_seq, state, at, fence });
    if (done) return written(context, runId, fresh, current.last_seq, at, state, needsOutboxRow(fence, state.status));
  }
}
