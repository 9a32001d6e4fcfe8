import { sqlArray } from '@runstream/db';
import type { RunStatus } from '@runstream/domain';
import { sql } from 'drizzle-orm';
import type { StoreContext } from '../context.js';
import { uuidPattern } from './run.js';

/** The status of each of `ids` that exists (an id missing from the map names no run). */
export async function getRunStatuses({ db }: StoreContext, ids: readonly string[]): Promise<Map<string, RunStatus>> {
  const valid = ids.filter((id) => uuidPattern.test(id));
  if (valid.length === 0) return new Map();
  const rows = await db.execute<{ id: string; status: RunStatus }>(sql`
    select id, status from runs where id = any(${sqlArray(valid, 'uuid')})`);
  return new Map(rows.map((row) => [row.id, row.status]));
}

/** Queued runs that wait for `runId` to succeed (`after`). */
export async function findQueuedDependents({ db }: StoreContext, runId: string): Promise<string[]> {
  const rows = await db.execute<{ id: string }>(sql`
    select id from runs where status = 'queued' and after_run_ids @> array[${runId}::uuid]`);
  return rows.map((row) => row.id);
}
