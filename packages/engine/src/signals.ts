import type { ErrorInfo } from '@runstream/domain';

// Errors thrown to unwind a workflow function and the execution running it; the executor decides what each means.

/** Unwinds the workflow function when the execution suspends (durable sleep, step backoff, signal wait) or hands off. */
export class Suspension extends Error {
  override name = 'Suspension';
  constructor(
    readonly reason: 'sleep' | 'retry' | 'signal' | 'handoff',
    /** Whether the lease was already given up by the append that suspended the run. */
    readonly released: boolean,
  ) {
    super(`execution suspended (${reason})`);
  }
}

/** Why an execution's signal was aborted. */
export class RunCancelledSignal extends Error {
  override name = 'RunCancelled';
  constructor() {
    super('run cancelled');
  }
}

/** Why in-flight executions are aborted when the shutdown grace period runs out: hand the run off, don't fail it. */
export class ShutdownSignal extends Error {
  override name = 'Shutdown';
  constructor() {
    super('engine shutting down');
  }
}

/** A step that used up its attempts (or threw NonRetryableError); carries the step's name for run.failed. */
export class StepFailedError extends Error {
  override name = 'StepFailedError';
  constructor(
    readonly step: string,
    readonly info: ErrorInfo,
  ) {
    super(`step ${step} failed: ${info.message}`);
  }
}
