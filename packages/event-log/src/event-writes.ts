import { encodeRunAppended, type NewEvent } from '@runstream/domain';
import { sqlArray } from '@runstream/db';
import { sql, type SQL } from 'drizzle-orm';

export interface EventWritesInput {
  /** Name of a preceding CTE that returns the run's `id` when (and only when) the write may proceed. */
  source: 'created_run' | 'locked_run';
  runId: string;
  firstSeq: number;
  events: readonly NewEvent[];
  at: Date;
  channel: string;
}

/**
 * The tail every write to a run's log shares: the event rows, one outbox row announcing them, and one NOTIFY,
 * all conditional on the `source` CTE having produced the run row — so one statement either writes all of it or
 * nothing. Returns CTEs named `written_events` and `outbox_row`, and the select-list item `notified`.
 */
export function eventWrites({ source, runId, firstSeq, events, at, channel }: EventWritesInput): {
  ctes: SQL;
  notified: SQL;
} {
  const lastSeq = firstSeq + events.length - 1;
  const rows = JSON.stringify(
    events.map((event, i) => ({ seq: firstSeq + i, type: event.type, data: event.data, key: event.key ?? null })),
  );
  const types = [...new Set(events.map((event) => event.type))];
  const src = sql.raw(source);
  const atIso = at.toISOString();
  return {
    ctes: sql`written_events as (
      insert into run_events (run_id, seq, type, data, key, created_at)
      select ${src}.id, e.seq, e.type, e.data, e.key, ${atIso}::timestamptz
      from ${src}, jsonb_to_recordset(${rows}::jsonb) as e(seq integer, type text, data jsonb, key text)
      returning seq
    ), outbox_row as (
      insert into outbox (run_id, first_seq, last_seq, event_types, created_at, available_at)
      select ${src}.id, ${firstSeq}, ${lastSeq}, ${sqlArray(types, 'text')}, ${atIso}::timestamptz, ${atIso}::timestamptz
      from ${src}
      returning id
    )`,
    notified: sql`(select count(pg_notify(${channel}, ${encodeRunAppended({ runId, lastSeq })})) from ${src})`,
  };
}
