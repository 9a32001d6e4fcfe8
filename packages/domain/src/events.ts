import { z } from 'zod';
import { runStatuses } from './run-state.js';
import { traceContextSchema } from './trace-context.js';
import { parseWith } from './validation.js';

const json = z.json();
const stepName = z.string().min(1).max(200);
const attempt = z.number().int().min(1);
const isoTime = z.iso.datetime({ offset: true });
export const signalNameSchema = z.string().regex(/^[a-zA-Z0-9_.:-]{1,200}$/, 'must match [a-zA-Z0-9_.:-]{1,200}');
const signalName = signalNameSchema;

export const runStatusSchema = z.enum(runStatuses);

export const errorInfoSchema = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  code: z.string().optional(),
});
export type ErrorInfo = z.infer<typeof errorInfoSchema>;

/**
 * Every event a run's log may hold, keyed by type. The data schemas are the contract between writers (engine,
 * API) and readers (projection, streams, dashboard): an event that does not match is rejected before any write.
 */
export const eventDataSchemas = {
  'run.created': z.object({
    workflow: z.string().min(1),
    input: json,
    workflowVersion: z.string().optional(),
    /** The creating request's W3C Trace Context: the run's executions continue its trace. */
    trace: traceContextSchema.optional(),
    /** The run that started this one (`ctx.startChild`). */
    parentRunId: z.uuid().optional(),
    /** Runs that must succeed before this one starts. */
    after: z.array(z.uuid()).optional(),
  }),
  /** An execution attempt began (the first one, or a re-execution after a crash, retry or wake-up). */
  'run.started': z.object({ attempt, workerId: z.string().min(1) }),
  /** Free-form output a workflow emits (progress ticks, partial results). */
  'run.output': z.object({ data: json, step: stepName.optional() }),
  'run.sleeping': z.object({ name: stepName, until: isoTime }),
  /**
   * The execution suspended until a signal named `signal` arrives (or `until`, when the wait has a timeout).
   * `wait` numbers the waits of a run in the order the workflow makes them; `schema` is the JSON Schema the
   * signal's data must match, which the API checks a signal against while the run waits.
   */
  'run.waiting': z.object({ wait: stepName, signal: signalName, until: isoTime.optional(), schema: json.optional() }),
  /** A signal sent to the run (kept until a wait of that name consumes it, in arrival order). */
  'signal.received': z.object({ signal: signalName, data: json, idempotencyKey: z.string().min(1).max(200).optional() }),
  /** A wait took the signal received at `seq`: what the wait returns, on this execution and every replay. */
  'signal.consumed': z.object({ wait: stepName, signal: signalName, seq: z.number().int().min(1) }),
  /** A wait's timeout passed before a signal of its name arrived; the wait throws SignalTimeoutError. */
  'signal.timed_out': z.object({ wait: stepName, signal: signalName }),
  'run.cancel_requested': z.object({ reason: z.string().optional() }),
  'run.succeeded': z.object({ output: json }),
  'run.failed': z.object({ error: errorInfoSchema, step: stepName.optional() }),
  'run.cancelled': z.object({ reason: z.string().optional() }),
  /** A failed run was sent back to the queue; completed steps keep their recorded output. */
  'run.retried': z.object({ reason: z.string().optional() }),
  'step.started': z.object({ step: stepName, attempt }),
  /** A piece of streamed output (an LLM token, a progress line) from inside a step attempt. */
  'step.chunk': z.object({ step: stepName, attempt, index: z.number().int().min(0), data: json }),
  'step.completed': z.object({ step: stepName, attempt, durationMs: z.number().min(0), output: json }),
  'step.failed': z.object({
    step: stepName,
    attempt,
    durationMs: z.number().min(0),
    error: errorInfoSchema,
    /** Set when another attempt is scheduled; absent when the step gave up. */
    retryAt: isoTime.optional(),
  }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];
export type EventData<T extends EventType = EventType> = z.infer<(typeof eventDataSchemas)[T]>;

/** An event as a writer proposes it, before it has a seq. */
export type NewEvent = {
  [T in EventType]: {
    type: T;
    data: EventData<T>;
    /** Idempotency key within the run: appending an event whose key the run already holds is a no-op. */
    key?: string;
  };
}[EventType];

/** An event as the log stores it. */
export type RunEvent = NewEvent & {
  runId: string;
  seq: number;
  createdAt: Date;
};

/** A stored event of one type, with the fields of `shape` beside it. */
type StoredEventSchema<T extends EventType, Shape extends z.ZodRawShape> = z.ZodObject<
  Shape & { type: z.ZodLiteral<T>; data: (typeof eventDataSchemas)[T] }
>;
type StoredEventUnion<Shape extends z.ZodRawShape> = z.ZodDiscriminatedUnion<
  { [T in EventType]: StoredEventSchema<T, Shape> }[EventType][],
  'type'
>;

const storedEventShape = { runId: z.string(), seq: z.number().int(), createdAt: z.date() };

/**
 * Schema of an event as the log stores it (a union discriminated by `type`), with `extra` fields beside each
 * variant (the cross-run feed adds its cursor).
 */
export function storedEventSchema<Extra extends z.ZodRawShape = Record<never, never>>(
  extra?: Extra,
): StoredEventUnion<typeof storedEventShape & Extra> {
  const variants = eventTypes.map((type) =>
    z.object({ ...storedEventShape, ...extra, type: z.literal(type), data: eventDataSchemas[type] }),
  );
  return z.discriminatedUnion('type', variants as unknown as [(typeof variants)[number]]) as unknown as StoredEventUnion<typeof storedEventShape & Extra>;
}

export const runEventSchema = storedEventSchema();

const eventTypeSchema = z.enum(eventTypes as [EventType, ...EventType[]]);

/** Built once: zod compiles a schema on first use, and appends parse every event. */
const envelopeSchema = z.object({ type: eventTypeSchema, data: z.unknown(), key: z.string().min(1).max(300).optional() });

/** Validates a proposed event; `prefix` locates it in the caller's input (e.g. `events[2]`). */
export function parseEvent(value: unknown, prefix = 'event'): NewEvent {
  const envelope = parseWith(envelopeSchema, value, prefix);
  const data = parseWith(eventDataSchemas[envelope.type], envelope.data, `${prefix}.data`);
  return { type: envelope.type, data, ...(envelope.key === undefined ? {} : { key: envelope.key }) } as NewEvent;
}

/** The idempotency key a chunk gets, so a replayed step never duplicates one. */
export function chunkKey(step: string, attempt: number, index: number): string {
  return `chunk:${step}:${attempt}:${index}`;
}

/** The idempotency key a signal sent with `idempotencyKey` gets: unique per run, so a repeat is dropped. */
export function childSignalName(childRunId: string): string {
  return `child:${childRunId}`;
}

/** The signal a child run's end sends its parent: its status, and its output or error. */
export const childOutcomeSchema = z.object({
  status: runStatusSchema,
  output: json.optional(),
  error: errorInfoSchema.nullable().optional(),
});
export type ChildOutcome = z.infer<typeof childOutcomeSchema>;

export function signalKey(idempotencyKey: string): string {
  return `signal:${idempotencyKey}`;
}

/**
 * The idempotency key of a step attempt's started, completed or failed event: an execution retries an append
 * whose commit it could not confirm (the connection was lost mid-flight), and the retry must not record it twice.
 */
export function stepEventKey(kind: 'started' | 'completed' | 'failed', step: string, attempt: number): string {
  return `step.${kind}:${step}:${attempt}`;
}

/** The idempotency key of an execution's run.started (the run's attempt number), for the same reason. */
export function runStartedKey(attempt: number): string {
  return `run.started:${attempt}`;
}
