import {
  errorInfoSchema,
  runEventSchema,
  runStatusSchema,
  seqNumber,
  signalNameSchema,
  stepStatuses,
  storableDate,
  storableJson,
  storableText,
  storedEventSchema,
} from '@runstream/domain';
import { z } from 'zod';

// The run vocabulary (statuses, errors, events) is domain's; the contract adds the API's own shapes around it.
export { errorInfoSchema, runEventSchema, runStatusSchema };

export const runSchema = z.object({
  id: z.string(),
  workflow: z.string(),
  workflowVersion: z.string().nullable(),
  input: z.unknown(),
  status: runStatusSchema,
  idempotencyKey: z.string().nullable(),
  /** The run that started this one (`ctx.startChild`), if any. */
  parentRunId: z.string().nullable(),
  /** Runs that must succeed before this one starts. */
  after: z.array(z.string()),
  /** Seq of the run's last event. */
  lastSeq: z.number().int(),
  attempts: z.number().int(),
  retries: z.number().int(),
  cancelRequested: z.boolean(),
  output: z.unknown(),
  error: errorInfoSchema.nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
  /** The workflow's concurrency key taken from the input; null when it limits by none. */
  concurrencyKey: z.string().nullable(),
  /** Why the run waits instead of executing (a concurrency limit reached); null when nothing holds it back. */
  waitingReason: z.string().nullable(),
  /** The signal the run waits for, with the JSON Schema its data must match; null when it waits for none. */
  waiting: z.object({ signal: z.string(), schema: z.unknown().optional() }).nullable(),
});

export const stepSchema = z.object({
  name: z.string(),
  status: z.enum(stepStatuses),
  attempts: z.number().int(),
  startedAt: z.date(),
  finishedAt: z.date().nullable(),
  durationMs: z.number(),
  output: z.unknown(),
  error: errorInfoSchema.nullable(),
  chunks: z.number().int(),
});

/** A run lifecycle event in the cross-run feed; `cursor` resumes the feed right after it. */
export const feedEventSchema = storedEventSchema({ cursor: z.string() });

/** How a run's stream ends: sent as the SSE `done` event once the run is terminal. */
export const streamEndSchema = z.object({ status: runStatusSchema, lastSeq: z.number().int() });

export const workflowWorkerSchema = z.object({ id: z.string(), host: z.string() });

export const workflowVersionSchema = z.object({
  version: z.string(),
  inputSchema: z.unknown(),
  /** Null for a version only the answering node has (no worker registered it). */
  firstSeenAt: z.date().nullable(),
  lastSeenAt: z.date().nullable(),
  /** Alive instances serving this version. */
  workers: z.array(workflowWorkerSchema),
});

/** A workflow as the deployment knows it: the current version's fields, then every registered version and live worker. */
export const workflowSchema = z.object({
  name: z.string(),
  version: z.string(),
  inputSchema: z.unknown(),
  concurrency: z.number().int().nullable(),
  keyConcurrency: z.number().int().nullable(),
  /** Whether the answering node has the workflow's code (otherwise it knows it from the registry). */
  local: z.boolean(),
  versions: z.array(workflowVersionSchema),
  /** Alive instances serving any version; none means new runs wait for a worker. */
  workers: z.array(workflowWorkerSchema),
});

/** After downtime or a pause: `skip` starts only the latest due tick; a number also starts that many missed ones. */
export const catchUpSchema = z.union([z.literal('skip'), z.number().int().min(0).max(1_000)]);

export const scheduleSchema = z.object({
  id: z.string(),
  cron: z.string(),
  timezone: z.string(),
  workflow: z.string(),
  input: z.unknown(),
  enabled: z.boolean(),
  catchUp: catchUpSchema,
  source: z.enum(['api', 'code']),
  nextFireAt: z.date().nullable(),
  lastFireAt: z.date().nullable(),
  /** The next 5 ticks not started yet; empty while paused. */
  nextFireTimes: z.array(z.date()),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const instanceSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  concurrency: z.number().int(),
  load: z.number().int(),
  status: z.enum(['alive', 'stopped', 'dead']),
  startedAt: z.date(),
  heartbeatAt: z.date(),
  stoppedAt: z.date().nullable(),
});

export const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.object({
    postgres: z.object({ ok: z.boolean(), error: z.string().optional() }),
    queue: z.object({ ok: z.boolean(), backend: z.enum(['redis', 'postgres']), error: z.string().optional() }),
  }),
});

const runId = z.uuid({ error: 'must be a run id (a UUID)' });
/** Query strings arrive as text over REST; numbers and dates are coerced, then checked against what PostgreSQL holds. */
const seqParam = seqNumber();

export const inputs = {
  createRun: z.object({
    workflow: storableText().min(1).max(200),
    input: storableJson().optional(),
    idempotencyKey: storableText().min(1).max(300).optional(),
    /** Run ids that must succeed first: the run stays queued until they have, and is cancelled if one does not. */
    after: z.array(z.uuid({ error: 'must be a run id (a UUID)' })).max(100).optional(),
  }),
  listRuns: z.object({
    workflow: storableText().min(1).max(200).optional(),
    status: z
      .union([runStatusSchema, z.array(runStatusSchema)])
      .optional(),
    createdAfter: storableDate().optional(),
    createdBefore: storableDate().optional(),
    cursor: storableText().min(1).max(500).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  }),
  runById: z.object({ id: runId }),
  listChildren: z.object({
    id: runId,
    cursor: z.string().min(1).max(500).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  }),
  sendSignal: z.object({
    id: runId,
    name: signalNameSchema,
    /** The signal's data (any JSON); checked against the schema of the wait, when the run waits for it. */
    data: storableJson().optional(),
    /** Exactly-once per run: a repeat with the same key is accepted and changes nothing. */
    idempotencyKey: storableText().min(1).max(200).optional(),
  }),
  readEvents: z.object({
    id: runId,
    fromSeq: seqParam.default(1),
    limit: z.coerce.number().int().min(1).max(1_000).default(200),
  }),
  streamRun: z.object({
    id: runId,
    /** First seq to send; `Last-Event-ID` (a reconnect) takes precedence. */
    fromSeq: seqParam.default(1),
    /** A read token scoped to this run, for clients that cannot send headers (`EventSource`). */
    token: storableText().optional(),
  }),
  createSchedule: z.object({
    id: storableText().regex(/^[a-zA-Z0-9_.:-]{1,200}$/, 'must match [a-zA-Z0-9_.:-]{1,200}'),
    /** Five fields, or six with seconds first. */
    cron: storableText().min(1).max(200),
    /** IANA timezone the cron is read in. */
    timezone: storableText().min(1).max(100).default('UTC'),
    workflow: storableText().min(1).max(200),
    input: storableJson().optional(),
    catchUp: catchUpSchema.default('skip'),
    enabled: z.boolean().default(true),
  }),
  scheduleById: z.object({ id: storableText().min(1).max(200) }),
  streamFeed: z.object({
    /** Resume after this feed cursor; `Last-Event-ID` takes precedence. Default: only what happens next. */
    after: storableText().max(100).optional(),
  }),
};
