import {
  applyEvent,
  IdempotencyKeyReusedError,
  parseWith,
  storableJson,
  storableText,
  traceContextSchema,
  type NewEvent,
  type TraceContext,
} from '@runstream/domain';
import { pgErrorCode, pgErrorConstraint, sqlArray, uuidv7 } from '@runstream/db';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { StoreContext } from '../context.js';
import { eventWrites } from '../events/event-writes.js';
import { getRun, getRunByIdempotencyKey } from './get.js';
import type { Run } from './run.js';

export interface CreateRunInput {
  workflow: string;
  input: unknown;
  idempotencyKey?: string;
  workflowVersion?: string;
  /** The creating request's trace, recorded in `run.created` (a repeat with the same key keeps the first's). */
  trace?: TraceContext;
  /** The workflow's concurrency key for this run (from its input), counted by the lease take. */
  concurrencyKey?: string;
  /** The run starting this one (`ctx.startChild`). */
  parentRunId?: string;
  /** Runs that must succeed before this one starts. */
  after?: string[];
  /** Why the run will wait, known at creation (no live worker serves its workflow); the lease take clears it. */
  waitingReason?: string;
}

const createRunSchema = z.object({
  workflow: storableText().min(1).max(200),
  // Checked to be JSON (without recursing, so any depth is refused safely rather than overflowing the stack).
  input: storableJson() as z.ZodType<z.core.util.JSONType>,
  // PostgreSQL would store a lone surrogate as U+FFFD, so different keys would meet as one: storableText refuses them.
  idempotencyKey: storableText().min(1).max(300).optional(),
  workflowVersion: storableText().max(200).optional(),
  trace: traceContextSchema.optional(),
  concurrencyKey: storableText().min(1).max(200).optional(),
  parentRunId: z.uuid().optional(),
  after: z.array(z.uuid()).max(100).optional(),
  waitingReason: storableText().min(1).max(500).optional(),
});

/** JSON with object keys sorted at every level: equal for values jsonb stores as equal, whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, nested: unknown) =>
    nested !== null && typeof nested === 'object' && !Array.isArray(nested)
      ? Object.fromEntries(Object.entries(nested).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : nested,
  );
}

/**
 * Creates a run and its `run.created` event (seq 1) in one statement. With an idempotency key, a second call
 * with the same workflow and input returns the first call's run (`created: false`): the insert hits the unique
 * index and we read the winner instead; another workflow or input is an `IdempotencyKeyReusedError`. A run's
 * workflow and input never change, so the stored ones are what the first call sent. The statement is
 * autocommitted, so a conflict aborts nothing the caller holds.
 */
export async function createRun(context: StoreContext, input: CreateRunInput): Promise<{ run: Run; created: boolean }> {
  const { db, clock, onAppended } = context;
  const { workflow, idempotencyKey, workflowVersion, trace, concurrencyKey, waitingReason, parentRunId, after, input: runInput } = parseWith(
    createRunSchema,
    input,
  );
  const event: NewEvent = {
    type: 'run.created',
    data: {
      workflow,
      input: runInput,
      ...(workflowVersion ? { workflowVersion } : {}),
      ...(trace ? { trace } : {}),
      ...(parentRunId ? { parentRunId } : {}),
      ...(after?.length ? { after } : {}),
    },
  };
  const at = clock.now();
  const state = applyEvent(null, event, at);
  const id = uuidv7(at.getTime());
  const atIso = at.toISOString();
  try {
    await db.execute(sql`
      with created_run as (
        insert into runs (id, workflow, workflow_version, input, status, idempotency_key, concurrency_key, waiting_reason, parent_run_id, after_run_ids,
          last_seq, created_at, updated_at)
        values (${id}, ${workflow}, ${workflowVersion ?? null}, ${JSON.stringify(runInput)}::jsonb, ${state.status},
          ${idempotencyKey ?? null}, ${concurrencyKey ?? null}, ${waitingReason ?? null}, ${parentRunId ?? null}, ${after?.length ? sqlArray(after, 'uuid') : null},
          1, ${atIso}::timestamptz, ${atIso}::timestamptz)
        returning id, 0 as base_seq
      ), ${eventWrites({ source: 'created_run', events: [event], at, outboxed: true })}
      select id from created_run`);
  } catch (error) {
    if (idempotencyKey && pgErrorCode(error) === '23505' && pgErrorConstraint(error) === 'runs_idempotency_key_key') {
      const existing = await getRunByIdempotencyKey(context, idempotencyKey);
      if (existing) {
        if (existing.workflow !== workflow || canonicalJson(existing.input) !== canonicalJson(runInput)) {
          throw new IdempotencyKeyReusedError(existing.id);
        }
        return { run: existing, created: false };
      }
    }
    throw error;
  }
  context.known?.remember(id, 1, state);
  onAppended?.({ runId: id, lastSeq: 1 }, true);
  const run = await getRun(context, id);
  if (!run) throw new Error(`run ${id} vanished right after it was created`);
  return { run, created: true };
}
