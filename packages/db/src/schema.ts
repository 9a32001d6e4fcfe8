import { runStatuses } from '@runstream/domain';
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/** PostgreSQL's 64-bit transaction id; read as text so it round-trips without precision loss. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const runs = pgTable(
  'runs',
  {
    id: uuid('id').primaryKey(),
    workflow: text('workflow').notNull(),
    workflowVersion: text('workflow_version'),
    input: jsonb('input').notNull(),
    status: text('status', { enum: runStatuses }).notNull(),
    idempotencyKey: text('idempotency_key'),
    /** The run that started this one with `ctx.startChild`; null for a run started from outside. */
    parentRunId: uuid('parent_run_id'),
    /** Runs that must succeed before this one starts (`startRun({ after })`); null when none. */
    afterRunIds: uuid('after_run_ids').array(),
    lastSeq: integer('last_seq').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    retries: integer('retries').notNull().default(0),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    output: jsonb('output'),
    error: jsonb('error'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
    startedAt: timestamptz('started_at'),
    finishedAt: timestamptz('finished_at'),
    wakeAt: timestamptz('wake_at'),
    /** The signal a suspended execution waits for (`{ signal, schema? }`), null when it waits for none. */
    waiting: jsonb('waiting'),
    /** The execution currently allowed to write to the run (engine instance id), null when none. */
    leaseOwner: text('lease_owner'),
    /** Fencing token: incremented by every lease acquisition; appends made under an older token are refused. */
    leaseToken: integer('lease_token').notNull().default(0),
    leaseExpiresAt: timestamptz('lease_expires_at'),
    /** The workflow's concurrency key taken from the input when the run was created; null when it has none. */
    concurrencyKey: text('concurrency_key'),
    /** Why a queued (or woken) run is not executing yet, e.g. a concurrency limit; null when nothing holds it. */
    waitingReason: text('waiting_reason'),
  },
  (t) => [
    uniqueIndex('runs_idempotency_key_key').on(t.idempotencyKey),
    index('runs_after_idx').using('gin', t.afterRunIds).where(sql`${t.status} = 'queued'`),
    index('runs_parent_idx').on(t.parentRunId).where(sql`${t.parentRunId} is not null`),
    index('runs_created_idx').on(t.createdAt.desc(), t.id.desc()),
    index('runs_status_created_idx').on(t.status, t.createdAt.desc(), t.id.desc()),
    index('runs_workflow_created_idx').on(t.workflow, t.createdAt.desc(), t.id.desc()),
    index('runs_lease_expiry_idx')
      .on(t.leaseExpiresAt)
      .where(sql`${t.status} = 'running' and ${t.leaseOwner} is not null`),
    index('runs_concurrency_key_idx')
      .on(t.workflow, t.concurrencyKey)
      .where(sql`${t.concurrencyKey} is not null and ${t.leaseOwner} is not null`),
    index('runs_wake_idx')
      .on(t.wakeAt)
      .where(sql`${t.status} = 'running' and ${t.leaseOwner} is null`),
    check('runs_status_check', sql`${t.status} in (${sql.raw(runStatuses.map((status) => `'${status}'`).join(', '))})`),
  ],
);

export const runEvents = pgTable(
  'run_events',
  {
    runId: uuid('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').notNull(),
    /** Idempotency key within the run (chunks use step/attempt/index); null for ordinary events. */
    key: text('key'),
    createdAt: timestamptz('created_at').notNull(),
    /** Global insertion order across runs. Not commit order: readers pair it with transaction_id. */
    position: bigint('position', { mode: 'bigint' }).generatedAlwaysAsIdentity().notNull(),
    transactionId: xid8('transaction_id')
      .notNull()
      .default(sql`pg_current_xact_id()`),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.seq] }),
    // Only keyed events (chunks) can repeat; most events carry no key and need no entry.
    uniqueIndex('run_events_run_key_key').on(t.runId, t.key).where(sql`${t.key} is not null`),
    index('run_events_feed_idx').on(t.transactionId, t.position),
  ],
);

export const outbox = pgTable(
  'outbox',
  {
    id: bigint('id', { mode: 'number' }).generatedAlwaysAsIdentity().primaryKey(),
    runId: uuid('run_id').notNull(),
    firstSeq: integer('first_seq').notNull(),
    lastSeq: integer('last_seq').notNull(),
    eventTypes: text('event_types').array().notNull(),
    createdAt: timestamptz('created_at').notNull(),
    availableAt: timestamptz('available_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    publishedAt: timestamptz('published_at'),
    failedAt: timestamptz('failed_at'),
  },
  (t) => [
    index('outbox_pending_idx')
      .on(t.id)
      .where(sql`${t.publishedAt} is null and ${t.failedAt} is null`),
    index('outbox_pending_run_idx')
      .on(t.runId, t.id)
      .where(sql`${t.publishedAt} is null and ${t.failedAt} is null`),
  ],
);

/** Engine processes: what each one is, how loaded, and whether it still heartbeats. */
export const instances = pgTable(
  'instances',
  {
    id: text('id').primaryKey(),
    host: text('host').notNull(),
    pid: integer('pid').notNull(),
    concurrency: integer('concurrency').notNull(),
    load: integer('load').notNull().default(0),
    status: text('status', { enum: ['alive', 'stopped', 'dead'] }).notNull(),
    startedAt: timestamptz('started_at').notNull(),
    heartbeatAt: timestamptz('heartbeat_at').notNull(),
    stoppedAt: timestamptz('stopped_at'),
  },
  (t) => [index('instances_alive_heartbeat_idx').on(t.heartbeatAt).where(sql`${t.status} = 'alive'`)],
);

/** Cron schedules: each due tick starts one run (idempotency key `schedule:<id>:<tick ISO>`). */
export const schedules = pgTable(
  'schedules',
  {
    /** The schedule's name, chosen by whoever created it. */
    id: text('id').primaryKey(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull(),
    workflow: text('workflow').notNull(),
    input: jsonb('input').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Missed ticks started after downtime, besides the latest due one; 0 skips them. */
    catchUp: integer('catch_up').notNull().default(0),
    /** `api` or `code` (declared next to the workflows, upserted when a worker starts). */
    source: text('source', { enum: ['api', 'code'] }).notNull(),
    /** The next tick not started yet; null while paused. */
    nextFireAt: timestamptz('next_fire_at'),
    lastFireAt: timestamptz('last_fire_at'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [index('schedules_due_idx').on(t.nextFireAt).where(sql`${t.enabled}`)],
);

/**
 * What the workers of a deployment run: one row per workflow version a worker registered, so nodes without the
 * workflow's code (API nodes) can validate input and list it.
 */
export const workflowVersions = pgTable(
  'workflow_versions',
  {
    workflow: text('workflow').notNull(),
    version: text('version').notNull(),
    /** JSON Schema of the input (as the worker's zod schema exports it). */
    inputSchema: jsonb('input_schema').notNull(),
    /** `{ retries, concurrency, keyConcurrency }`, each a number or null. */
    options: jsonb('options').notNull(),
    firstSeenAt: timestamptz('first_seen_at').notNull(),
    /** When a worker serving it last registered or heartbeat (updated at most once a minute). */
    lastSeenAt: timestamptz('last_seen_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.workflow, t.version] })],
);

/** Which instances serve which workflow versions (replaced whenever an instance registers). */
export const workflowInstances = pgTable(
  'workflow_instances',
  {
    workflow: text('workflow').notNull(),
    version: text('version').notNull(),
    instanceId: text('instance_id')
      .notNull()
      .references(() => instances.id, { onDelete: 'cascade' }),
  },
  (t) => [
    primaryKey({ columns: [t.instanceId, t.workflow] }),
    index('workflow_instances_workflow_idx').on(t.workflow, t.version),
  ],
);

export type RunRow = typeof runs.$inferSelect;
export type RunEventRow = typeof runEvents.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
export type InstanceRow = typeof instances.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
export type WorkflowVersionRow = typeof workflowVersions.$inferSelect;
