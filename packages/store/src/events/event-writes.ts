import { sqlArray } from '@runstream/db';
import { isTerminal, type NewEvent, type RunStatus } from '@runstream/domain';
import { sql, type SQL } from 'drizzle-orm';

export interface EventWritesInput {
  /**
   * Name of a preceding CTE that returns the run's `id` and `base_seq` (the seq just before the new events)
   * when, and only when, the write may proceed.
   */
  source: 'created_run' | 'locked_run';
  events: readonly NewEvent[];
  at: Date;
  /** Whether to write the outbox row (see `needsOutboxRow`). */
  outboxed: boolean;
}

/**
 * Whether an append must leave an outbox row. The outbox's readers are the engine's dispatcher (a run that
 * needs a worker now or at a wake-up time; a finished run's parent and `after` dependents) and, on the draining
 * node, the bus; subscribers on every node are woken by NOTIFY after the commit and re-read on a timer, so they
 * never depend on the row. An append by the execution holding the lease (`run.started`, steps, chunks, outputs)
 * is acted on by that execution itself: it needs a row only when it gives the lease up for someone to take
 * later (a suspension) or ends the run. Every other append (a new run, a cancel request, a retry, a signal,
 * anything written without a fence) keeps its row.
 */
export function needsOutboxRow(fence: { release?: boolean } | undefined, status: RunStatus): boolean {
  return fence === undefined || fence.release === true || isTerminal(status);
}

/**
 * The tail every write to a run's log shares: the event rows (seq = base_seq + position in the batch) and, when
 * `outboxed`, one outbox row announcing them, both conditional on the `source` CTE having produced the run row —
 * so one statement either writes all of it or nothing. Defines the CTE `written_events` (and `outbox_row`).
 */
export function eventWrites({ source, events, at, outboxed }: EventWritesInput): SQL {
  const rows = JSON.stringify(
    events.map((event, i) => ({ idx: i + 1, type: event.type, data: event.data, key: event.key ?? null })),
  );
  const types = [...new Set(events.map((event) => event.type))];
  const src = sql.raw(source);
  const atIso = at.toISOString();
  const writtenEvents = sql`written_events as (
      insert into run_events (run_id, seq, type, data, key, created_at)
      select ${src}.id, ${src}.base_seq + e.idx, e.type, e.data, e.key, ${atIso}::timestamptz
      from ${src}, jsonb_to_recordset(${rows}::jsonb) as e(idx integer, type text, data jsonb, key text)
      returning seq
    )`;
  if (!outboxed) return writtenEvents;
  return sql`${writtenEvents}, outbox_row as (
      insert into outbox (run_id, first_seq, last_seq, event_types, created_at, available_at)
      select ${src}.id, ${src}.base_seq + 1, ${src}.base_seq + ${events.length}, ${sqlArray(types, 'text')},
        ${atIso}::timestamptz, ${atIso}::timestamptz
      from ${src}
      returning id
    )`;
}
