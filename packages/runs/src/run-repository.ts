import {
  applyEvent,
  IdempotencyKeyReusedError,
  InvalidCursorError,
  parseWith,
  runStatuses,
  type Clock,
  type ErrorInfo,
  type NewEvent,
  type RunAppended,
  type RunStatus,
} from '@runstream/domain';
import { pgErrorCode, pgErrorConstraint, runs, uuidv7, type Database, type RunRow } from '@runstream/db';
import { eventWrites } from '@runstream/event-log';
import { and, desc, eq, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';

export interface Run {
  id: string;
  workflow: string;
  workflowVersion: string | null;
  input: unknown;
  status: RunStatus;
  idempotencyKey: string | null;
  lastSeq: number;
  attempts: number;
  retries: number;
  cancelRequested: boolean;
  output: unknown;
  error: ErrorInfo | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface CreateRunInput {
  workflow: string;
  input: unknown;
  idempotencyKey?: string;
  workflowVersion?: string;
}

export interface ListRunsFilter {
  workflow?: string;
  status?: RunStatus | RunStatus[];
  createdAfter?: Date;
  createdBefore?: Date;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
  /** Page size, 1–200 (default 50). */
  limit?: number;
}

export interface RunPage {
  runs: Run[];
  /** Present when there may be more runs after this page. */
  nextCursor?: string;
}

const createRunSchema = z.object({
  workflow: z.string().min(1).max(200),
  input: z.json(),
  // PostgreSQL would store a lone surrogate as U+FFFD, so different keys would meet as one.
  // (With the u flag a surrogate pair is one code point, so \p{Cs} matches only lone halves.)
  idempotencyKey: z.string().min(1).max(300).refine((key) => !/\p{Cs}/u.test(key), 'must not contain lone surrogates').optional(),
  workflowVersion: z.string().max(200).optional(),
});

/** JSON with object keys sorted at every level: equal for values jsonb stores as equal, whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, nested: unknown) =>
    nested !== null && typeof nested === 'object' && !Array.isArray(nested)
      ? Object.fromEntries(Object.entries(nested).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : nested,
  );
}

const listSchema = z.object({
  workflow: z.string().min(1).optional(),
  status: z.union([z.enum(runStatuses), z.array(z.enum(runStatuses)).min(1)]).optional(),
  createdAfter: z.date().optional(),
  createdBefore: z.date().optional(),
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).optional(),
});

function toRun(row: RunRow): Run {
  return { ...row, error: row.error as ErrorInfo | null };
}

/** Newest first: the cursor is the (created_at, id) of the last run on the page. */
function encodeListCursor(run: Run): string {
  return Buffer.from(`${run.createdAt.toISOString()}|${run.id}`).toString('base64url');
}

/** A canonical UUID; anything else would make PostgreSQL reject the whole query. */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function decodeListCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !uuidPattern.test(id) || Number.isNaN(createdAt.getTime())) throw new InvalidCursorError(cursor);
  return { createdAt, id };
}

export interface RunRepositoryConfig {
  db: Database;
  clock: Clock;
  /** Called after a run (and its run.created event) is committed. */
  onAppended?: (signal: RunAppended) => void;
}

export type RunRepository = ReturnType<typeof createRunRepository>;

export function createRunRepository({ db, clock, onAppended }: RunRepositoryConfig) {
  async function get(id: string): Promise<Run | null> {
    if (!uuidPattern.test(id)) return null;
    const [row] = await db.select().from(runs).where(eq(runs.id, id));
    return row ? toRun(row) : null;
  }

  async function getByIdempotencyKey(key: string): Promise<Run | null> {
    const [row] = await db.select().from(runs).where(eq(runs.idempotencyKey, key));
    return row ? toRun(row) : null;
  }

  /**
   * Creates a run and its `run.created` event (seq 1) in one statement. With an idempotency key, a second call
   * with the same workflow and input returns the first call's run (`created: false`): the insert hits the unique
   * index and we read the winner instead; another workflow or input is an `IdempotencyKeyReusedError`. A run's
   * workflow and input never change, so the stored ones are what the first call sent. The statement is
   * autocommitted, so a conflict aborts nothing the caller holds.
   */
  async function create(input: CreateRunInput): Promise<{ run: Run; created: boolean }> {
    const { workflow, idempotencyKey, workflowVersion, input: runInput } = parseWith(createRunSchema, input);
    const event: NewEvent = {
      type: 'run.created',
      data: { workflow, input: runInput, ...(workflowVersion ? { workflowVersion } : {}) },
    };
    const at = clock.now();
    const state = applyEvent(null, event, at);
    const id = uuidv7(at.getTime());
    const atIso = at.toISOString();
    try {
      await db.execute(sql`
        with created_run as (
          insert into runs (id, workflow, workflow_version, input, status, idempotency_key, last_seq, created_at, updated_at)
          values (${id}, ${workflow}, ${workflowVersion ?? null}, ${JSON.stringify(runInput)}::jsonb, ${state.status},
            ${idempotencyKey ?? null}, 1, ${atIso}::timestamptz, ${atIso}::timestamptz)
          returning id, 0 as base_seq
        ), ${eventWrites({ source: 'created_run', events: [event], at })}
        select id from created_run`);
    } catch (error) {
      if (idempotencyKey && pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'runs_idempotency_key_key') {
        const existing = await getByIdempotencyKey(idempotencyKey);
        if (existing) {
          if (existing.workflow !== workflow || canonicalJson(existing.input) !== canonicalJson(runInput)) {
            throw new IdempotencyKeyReusedError(existing.id);
          }
          return { run: existing, created: false };
        }
      }
      throw error;
    }
    onAppended?.({ runId: id, lastSeq: 1 });
    const run = await get(id);
    if (!run) throw new Error(`run ${id} vanished right after it was created`);
    return { run, created: true };
  }

  async function list(filter: ListRunsFilter = {}): Promise<RunPage> {
    const { workflow, status, createdAfter, createdBefore, cursor, limit = 50 } = parseWith(listSchema, filter);
    const conditions: (SQL | undefined)[] = [];
    if (workflow) conditions.push(eq(runs.workflow, workflow));
    if (typeof status === 'string') conditions.push(eq(runs.status, status));
    else if (status) conditions.push(inArray(runs.status, status));
    if (createdAfter) conditions.push(gte(runs.createdAt, createdAfter));
    if (createdBefore) conditions.push(lt(runs.createdAt, createdBefore));
    if (cursor) {
      const after = decodeListCursor(cursor);
      conditions.push(
        or(lt(runs.createdAt, after.createdAt), and(eq(runs.createdAt, after.createdAt), lt(runs.id, after.id))),
      );
    }
    const rows = await db
      .select()
      .from(runs)
      .where(and(...conditions))
      .orderBy(desc(runs.createdAt), desc(runs.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit).map(toRun);
    const last = page.at(-1);
    return rows.length > limit && last ? { runs: page, nextCursor: encodeListCursor(last) } : { runs: page };
  }

  return { create, get, getByIdempotencyKey, list };
}
