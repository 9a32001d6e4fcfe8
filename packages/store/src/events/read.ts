import { MAX_INT4, type EventType, type RunEvent } from '@runstream/domain';
import { sql } from 'drizzle-orm';
import type { EventLogContext } from '../context.js';

export interface ReadOptions {
  /** First seq to return (inclusive). Default 1. */
  fromSeq?: number;
  /** Page size. Default 500, at most 10,000. */
  limit?: number;
}

const MAX_PAGE = 10_000;

export type StoredEventRow = {
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

export function pageSize(limit: number | undefined, field: string): number {
  const size = limit ?? 500;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`${field} must be a positive integer`);
  return Math.min(size, MAX_PAGE);
}

/** One keyset page of a run's events, in seq order. */
export async function readEvents({ db }: EventLogContext, runId: string, options: ReadOptions = {}): Promise<RunEvent[]> {
  const fromSeq = options.fromSeq ?? 1;
  if (!Number.isInteger(fromSeq) || fromSeq < 1 || fromSeq > MAX_INT4) {
    throw new RangeError(`fromSeq must be an integer from 1 to ${MAX_INT4}`);
  }
  const limit = pageSize(options.limit, 'limit');
  // The bound is an `integer` too: at the top of its range it stops at the last seq a run can have.
  const lastSeq = Math.min(fromSeq + limit - 1, MAX_INT4);
  // Seqs are dense, so the upper bound changes nothing but the plan: without it, on a table whose statistics do
  // not yet know a long run, PostgreSQL bitmap-scans and sorts the whole rest of the run for every page.
  const rows = await db.execute<StoredEventRow>(sql`
    select run_id, seq, type, data, key, created_at from run_events
    where run_id = ${runId} and seq >= ${fromSeq} and seq <= ${lastSeq}
    order by seq limit ${limit}`);
  return rows.map(toRunEvent);
}

/** Every event of a run from `fromSeq`, page by page: memory stays bounded by the page size. */
export async function* readEventStream(
  context: EventLogContext,
  runId: string,
  options: ReadOptions = {},
): AsyncGenerator<RunEvent> {
  let fromSeq = options.fromSeq ?? 1;
  for (;;) {
    const page = await readEvents(context, runId, { ...options, fromSeq });
    yield* page;
    if (page.length < pageSize(options.limit, 'limit')) return;
    fromSeq = page[page.length - 1]!.seq + 1;
  }
}

/** A stored event as JSON text, encoded by PostgreSQL: what a stream sends without parsing and re-encoding it. */
export interface EncodedEvent {
  seq: number;
  type: EventType;
  /** `{"runId","seq","type","data","createdAt"}` as the API presents an event (no key; `createdAt` in ISO form). */
  json: string;
}

/**
 * One keyset page of a run's events (as `readEvents`), each as the JSON text a client receives, built from the
 * stored `data` text: no parse and re-encode in Node. Without `withStacks`, `data.error.stack` is left out.
 */
export async function readEncodedEvents(
  { db }: EventLogContext,
  runId: string,
  options: ReadOptions & { withStacks: boolean },
): Promise<EncodedEvent[]> {
  const fromSeq = options.fromSeq ?? 1;
  if (!Number.isInteger(fromSeq) || fromSeq < 1 || fromSeq > MAX_INT4) {
    throw new RangeError(`fromSeq must be an integer from 1 to ${MAX_INT4}`);
  }
  const limit = pageSize(options.limit, 'limit');
  const lastSeq = Math.min(fromSeq + limit - 1, MAX_INT4);
  const data = options.withStacks
    ? sql`data`
    : sql`case when jsonb_typeof(data -> 'error') = 'object' then data #- '{error,stack}' else data end`;
  // run_id is a uuid and type one of the event types: neither needs escaping.
  const rows = await db.execute<EncodedEvent & Record<string, unknown>>(sql`
    select seq, type, '{"runId":"' || run_id || '","seq":' || seq || ',"type":"' || type || '","data":'
      || (${data})::text || ',"createdAt":"'
      || to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"}' as json
    from run_events
    where run_id = ${runId} and seq >= ${fromSeq} and seq <= ${lastSeq}
    order by seq limit ${limit}`);
  return [...rows];
}
