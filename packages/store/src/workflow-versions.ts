import { sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/**
 * The workflow registry: the workflow versions workers registered (`workflow_versions`) and which instances serve
 * them (`workflow_instances`, joined to `instances` for liveness). Nodes without a workflow's code read it to
 * validate input and to say whether any worker is there to run it.
 */

/** What the registry keeps of a workflow's options: enough to show and validate, not to run. */
export interface WorkflowVersionOptions {
  retries: number | null;
  concurrency: number | null;
  keyConcurrency: number | null;
}

export interface NewWorkflowVersion {
  workflow: string;
  version: string;
  inputSchema: unknown;
  options: WorkflowVersionOptions;
}

export interface WorkflowWorker {
  id: string;
  host: string;
}

export interface WorkflowVersion extends NewWorkflowVersion {
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** Live instances serving this version: alive and heard from within the caller's `staleMs`. */
  workers: WorkflowWorker[];
}

/** `last_seen_at` is rewritten at most this often per version: heartbeats come every few seconds. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

interface VersionRow extends Record<string, unknown> {
  workflow: string;
  version: string;
  input_schema: unknown;
  options: WorkflowVersionOptions;
  first_seen_at: string;
  last_seen_at: string;
  workers: WorkflowWorker[];
}

function toVersion(row: VersionRow): WorkflowVersion {
  return {
    workflow: row.workflow,
    version: row.version,
    inputSchema: row.input_schema,
    options: row.options,
    firstSeenAt: new Date(row.first_seen_at),
    lastSeenAt: new Date(row.last_seen_at),
    workers: row.workers,
  };
}

/**
 * Records that `instanceId` (registered in `instances` already) serves `versions`, replacing what it served
 * before: versions are upserted (first seen kept, last seen now), the instance's rows rewritten.
 */
export async function registerWorkflowVersions(
  { db, clock }: StoreContext,
  instanceId: string,
  versions: readonly NewWorkflowVersion[],
): Promise<void> {
  const now = clock.now().toISOString();
  await db.transaction(async (tx) => {
    await tx.execute(sql`delete from workflow_instances where instance_id = ${instanceId}`);
    for (const { workflow, version, inputSchema, options } of versions) {
      await tx.execute(sql`
        insert into workflow_versions (workflow, version, input_schema, options, first_seen_at, last_seen_at)
        values (${workflow}, ${version}, ${JSON.stringify(inputSchema)}::jsonb, ${JSON.stringify(options)}::jsonb,
          ${now}::timestamptz, ${now}::timestamptz)
        on conflict (workflow, version) do update set last_seen_at = excluded.last_seen_at`);
      await tx.execute(sql`
        insert into workflow_instances (workflow, version, instance_id) values (${workflow}, ${version}, ${instanceId})`);
    }
  });
}

/** Moves `last_seen_at` of the versions `instanceId` serves to now (a heartbeat); a no-op within a minute of the last. */
export async function touchWorkflowVersions({ db, clock }: StoreContext, instanceId: string): Promise<void> {
  const now = clock.now();
  const stale = new Date(now.getTime() - LAST_SEEN_RESOLUTION_MS).toISOString();
  await db.execute(sql`
    update workflow_versions v set last_seen_at = ${now.toISOString()}::timestamptz
    from workflow_instances wi
    where wi.instance_id = ${instanceId} and v.workflow = wi.workflow and v.version = wi.version
      and v.last_seen_at < ${stale}::timestamptz`);
}

/**
 * The registered versions (of one workflow, or all), each with its live workers; newest seen first per workflow.
 * A worker is live when it is `alive` and heartbeat within `staleMs`: one that crashed with no peer left to declare
 * it dead would otherwise count forever.
 */
async function selectVersions(
  { db, clock }: StoreContext,
  workflow: string | undefined,
  staleMs: number,
): Promise<WorkflowVersion[]> {
  const heardSince = new Date(clock.now().getTime() - staleMs).toISOString();
  const rows = await db.execute<VersionRow>(sql`
    select v.workflow, v.version, v.input_schema, v.options, v.first_seen_at::text, v.last_seen_at::text,
      coalesce(json_agg(json_build_object('id', i.id, 'host', i.host) order by i.id) filter (where i.id is not null), '[]') as workers
    from workflow_versions v
    left join workflow_instances wi on wi.workflow = v.workflow and wi.version = v.version
    left join instances i on i.id = wi.instance_id and i.status = 'alive' and i.heartbeat_at >= ${heardSince}::timestamptz
    ${workflow === undefined ? sql`` : sql`where v.workflow = ${workflow}`}
    group by v.workflow, v.version
    order by v.workflow, v.last_seen_at desc, v.first_seen_at desc, v.version
    limit 2000`);
  return rows.map(toVersion);
}

/** Every registered version with its live workers, grouped by workflow (newest seen first within each). */
export function listWorkflowVersions(context: StoreContext, staleMs: number): Promise<WorkflowVersion[]> {
  return selectVersions(context, undefined, staleMs);
}

/**
 * The version of `workflow` a new run is checked against: the most recently seen one a live worker serves,
 * else the most recently seen one; null when no worker ever registered the workflow.
 */
export async function currentWorkflowVersion(
  context: StoreContext,
  workflow: string,
  staleMs: number,
): Promise<WorkflowVersion | null> {
  const versions = await selectVersions(context, workflow, staleMs);
  return versions.find((version) => version.workers.length > 0) ?? versions[0] ?? null;
}
