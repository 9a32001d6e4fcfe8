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
