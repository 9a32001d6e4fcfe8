import { InvalidCursorError, isStorableDate, parseWith, runStatuses, storableText, type RunStatus } from '@runstream/domain';
import { runs } from '@runstream/db';
import { and, desc, eq, gte, inArray, lt, or, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { StoreContext } from '../context.js';
import { toRun, uuidPattern, type Run } from './run.js';

export interface ListRunsFilter {
  workflow?: string;
  /** Only the runs this run started (`ctx.startChild`). */
  parentRunId?: string;
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

const storableDate = z.date().refine(isStorableDate, 'must be a date between 0001-01-01 and 9999-12-31');

const listSchema = z.object({
  workflow: storableText().min(1).optional(),
  parentRunId: z.uuid().optional(),
  status: z.union([z.enum(runStatuses), z.array(z.enum(runStatuses)).min(1)]).optional(),
  createdAfter: storableDate.optional(),
  createdBefore: storableDate.optional(),
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).optional(),
});

/** Newest first: the cursor is the (created_at, id) of the last run on the page. */
function encodeListCursor(run: Run): string {
  return Buffer.from(`${run.createdAt.toISOString()}|${run.id}`).toString('base64url');
}

function decodeListCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !uuidPattern.test(id) || !isStorableDate(createdAt)) throw new InvalidCursorError(cursor);
  return { createdAt, id };
}

/** One keyset page of runs, newest first, filtered. */
export async function listRuns({ db }: StoreContext, filter: ListRunsFilter = {}): Promise<RunPage> {
  const { workflow, parentRunId, status, createdAfter, createdBefore, cursor, limit = 50 } = parseWith(listSchema, filter);
  const conditions: (SQL | undefined)[] = [];
  if (workflow) conditions.push(eq(runs.workflow, workflow));
  if (parentRunId) conditions.push(eq(runs.parentRunId, parentRunId));
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
