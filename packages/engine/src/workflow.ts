import type { ErrorInfo } from '@runstream/domain';
import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * Backoff between attempts of a step: exponential from `baseMs`, capped at `maxMs`, with equal jitter (domain's
 * `backoffDelay`). Unset fields fall back to `defaults.stepBackoff`.
 */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

export interface StepOptions {
  /** Attempts after the first. Default: the workflow's `retries`, else 0. */
  retries?: number;
  backoff?: BackoffOptions;
  /** An attempt running longer than this fails with StepTimeoutError and sees its signal aborted. */
  timeoutMs?: number;
}

export interface StepContext {
  /** Aborted when the run is cancelled, the attempt times out, or the execution loses its lease. */
  signal: AbortSignal;
  attempt: number;
  /**
   * Records a piece of streamed output (an LLM token, a progress line) in the run's log. Chunks carry
   * (step, attempt, index), so an attempt replayed after a crash never duplicates one.
   */
  chunk(data: unknown): Promise<void>;
}

export interface WorkflowContext {
  runId: string;
  /** Aborted when the run is cancelled or the execution loses its lease. */
  signal: AbortSignal;
  /**
   * Runs `fn` as a named step. Its result is recorded; when the run is executed again (crash, retry, wake-up)
   * a completed step returns the recorded output without running. Names must be unique within a run.
   */
  step<T>(name: string, fn: (step: StepContext) => Promise<T>, options?: StepOptions): Promise<T>;
  /** Records output outside any step (progress, partial results). Replay-safe. */
  emit(data: unknown): Promise<void>;
  /** A durable timer: the execution suspends and a delayed job resumes the run; no worker is held. */
  sleep(ms: number): Promise<void>;
  /**
   * Waits for a signal named `name` (sent with `POST /api/runs/{id}/signals/{name}`) and returns its data,
   * parsed with `schema`. A signal that arrived earlier and no wait took yet is taken at once (oldest first);
   * otherwise the execution suspends, holding no worker, until one arrives. After `timeoutMs` it throws
   * SignalTimeoutError. Which signal a wait took is recorded, so a replay returns the same data.
   */
  waitForSignal<S extends z.ZodType = z.ZodType<unknown>>(name: string, options?: SignalWaitOptions<S>): Promise<z.output<S>>;
  /**
   * Starts a run of `workflow` as this run's child, durably: the child's id is recorded as a step (`child:0`,
   * `child:1`, … in call order) and the run is created under an idempotency key derived from it, so a replay
   * never starts a second one. `handle.result()` suspends this run, holding no worker, until the child ends.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a definition with any input schema
  startChild<W extends WorkflowDefinition<any, any>>(
    workflow: W | string,
    input: W extends WorkflowDefinition<infer S, unknown> ? z.input<S> : unknown,
  ): Promise<ChildRun<W extends WorkflowDefinition<z.ZodType, infer O> ? O : unknown>>;
}

export interface ChildRun<O> {
  runId: string;
  /** The child's output once it succeeds; ChildRunFailedError when it fails or is cancelled. */
  result(): Promise<O>;
}

export interface SignalWaitOptions<S extends z.ZodType> {
  /**
   * The signal's data must match it: while the run waits, the API refuses data that does not (400 naming the
   * field), and a signal sent before the wait that does not match fails the wait with a ValidationError.
   */
  schema?: S;
  /** How long to wait before SignalTimeoutError; without it the run waits until a signal comes. */
  timeoutMs?: number;
}

export interface WorkflowDefinition<S extends z.ZodType = z.ZodType, O = unknown, N extends string = string> {
  /** Kept as its literal type, so typed clients check workflow names at compile time. */
  readonly name: N;
  input: S;
  run(ctx: WorkflowContext, input: z.output<S>): Promise<O>;
  /** Runs of this workflow executing at once, across all workers and nodes. Default: unlimited. */
  concurrency?: number;
  /**
   * Runs executing at once per key taken from the input (e.g. at most 2 per `customerId`), across all workers
   * and nodes, besides `concurrency`. A run over it stays queued with a `waitingReason`. A run whose `key`
   * returns undefined is not limited by it.
   */
  keyConcurrency?: { key: (input: z.output<S>) => string | null | undefined; limit: number };
  /** Default retries for its steps. */
  retries?: number;
  /** Identifies the code: recorded on every run, so execution history says which version ran it. */
  version: string;
}

export function defineWorkflow<const N extends string, S extends z.ZodType, O>(
  definition: Omit<WorkflowDefinition<S, O, N>, 'version'> & { version?: string },
): WorkflowDefinition<S, O, N> {
  const keyLimit = definition.keyConcurrency?.limit;
  if (keyLimit !== undefined && !(Number.isInteger(keyLimit) && keyLimit >= 1)) {
    throw new TypeError(`workflow ${definition.name}: keyConcurrency.limit must be a positive integer`);
  }
  if (!/^[a-zA-Z0-9_.:-]{1,200}$/.test(definition.name)) {
    throw new TypeError(`workflow name ${JSON.stringify(definition.name)} must match [a-zA-Z0-9_.:-]{1,200}`);
  }
  const version =
    definition.version ??
    createHash('sha256')
      .update(definition.name)
      .update(definition.run.toString())
      .update(JSON.stringify(z.toJSONSchema(definition.input, { unrepresentable: 'any' })))
      .update(String(definition.concurrency ?? ''))
      .update(String(definition.keyConcurrency?.limit ?? ''))
      .update(String(definition.keyConcurrency?.key ?? ''))
      .update(String(definition.retries ?? ''))
      .digest('hex')
      .slice(0, 16);
  return { ...definition, version };
}

/** Thrown from a step to fail it at once, without its remaining retries. */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
}

export class StepTimeoutError extends Error {
  override name = 'StepTimeoutError';
  constructor(
    readonly step: string,
    readonly timeoutMs: number,
  ) {
    super(`step ${step} timed out after ${timeoutMs} ms`);
  }
}

/** Thrown by a child handle's `result()` when the child run failed or was cancelled. */
export class ChildRunFailedError extends Error {
  override name = 'ChildRunFailedError';
  constructor(
    readonly childRunId: string,
    readonly status: string,
    readonly error: ErrorInfo | null,
  ) {
    super(`child run ${childRunId} ${status}${error ? `: ${error.message}` : ''}`);
  }
}

/** Thrown by `ctx.waitForSignal` when its timeout passes before a signal of its name arrives. */
export class SignalTimeoutError extends Error {
  override name = 'SignalTimeoutError';
  constructor(
    readonly signal: string,
    readonly timeoutMs: number | undefined,
  ) {
    super(`no signal ${JSON.stringify(signal)} arrived within ${timeoutMs ?? '?'} ms`);
  }
}
