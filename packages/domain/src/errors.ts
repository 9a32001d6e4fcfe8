import type { ErrorInfo } from './events.js';
import type { RunStatus } from './run-state.js';

/** Base class of every error Runstream raises on purpose; `code` is stable and safe to show to API clients. */
export abstract class RunstreamError extends Error {
  abstract readonly code: string;
  override name = this.constructor.name;
}

export interface ValidationIssue {
  /** Dotted path of the offending field, e.g. `events[0].data.attempt`. */
  field: string;
  message: string;
}

/** Input that does not match its schema. Names the first offending field; nothing was written. */
export class ValidationError extends RunstreamError {
  readonly code = 'VALIDATION_FAILED';
  readonly field: string;
  constructor(readonly issues: readonly [ValidationIssue, ...ValidationIssue[]]) {
    super(`${issues[0].field}: ${issues[0].message}`);
    this.field = issues[0].field;
  }
}

/** An event the run's state machine does not allow in its current status. Nothing was written. */
export class IllegalTransitionError extends RunstreamError {
  readonly code = 'ILLEGAL_TRANSITION';
  constructor(
    readonly status: RunStatus | 'new',
    readonly eventType: string,
  ) {
    super(`event ${eventType} is not allowed when the run is ${status}`);
  }
}

/** An optimistic append whose `expectedSeq` no longer matches the run's last seq. Nothing was written. */
export class ConcurrencyError extends RunstreamError {
  readonly code = 'CONCURRENCY_CONFLICT';
  constructor(
    readonly runId: string,
    readonly expectedSeq: number,
    readonly actualSeq: number,
  ) {
    super(`run ${runId} is at seq ${actualSeq}, expected ${expectedSeq}`);
  }
}

export class RunNotFoundError extends RunstreamError {
  readonly code = 'RUN_NOT_FOUND';
  constructor(readonly runId: string) {
    super(`run ${runId} does not exist`);
  }
}

/** A list or feed cursor that was not produced by Runstream (or was altered). */
export class InvalidCursorError extends RunstreamError {
  readonly code = 'INVALID_CURSOR';
  readonly field = 'cursor';
  constructor(readonly cursor: string) {
    super(`cursor ${JSON.stringify(cursor)} is not a valid cursor`);
  }
}

/**
 * An append on behalf of an execution whose lease was taken over (or released). The writer is a zombie: it must
 * stop, and nothing it tried to write was written.
 */
export class LeaseLostError extends RunstreamError {
  readonly code = 'LEASE_LOST';
  constructor(
    readonly runId: string,
    readonly fencingToken: number,
  ) {
    super(`run ${runId}: lease with fencing token ${fencingToken} is no longer held`);
  }
}

export class UnknownWorkflowError extends RunstreamError {
  readonly code = 'UNKNOWN_WORKFLOW';
  readonly field = 'workflow';
  constructor(readonly workflow: string) {
    super(`no workflow named ${JSON.stringify(workflow)} is registered`);
  }
}

/**
 * A create with an idempotency key that already started a run with another workflow or input: a client bug (a
 * key reused for a different request), not a retry. Nothing was written. The message names the run, not the input.
 */
export class IdempotencyKeyReusedError extends RunstreamError {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  readonly field = 'idempotencyKey';
  constructor(readonly runId: string) {
    super(`this idempotency key already started run ${runId} with a different workflow or input`);
  }
}

/** An operation that needs the run in another status (cancel a finished run, retry one that did not fail). */
export class RunStatusConflictError extends RunstreamError {
  readonly code = 'RUN_STATUS_CONFLICT';
  constructor(
    readonly runId: string,
    readonly status: RunStatus,
    readonly operation: string,
  ) {
    super(`cannot ${operation} run ${runId}: it is ${status}`);
  }
}

/** A run's result was asked for, and the run failed: `error` is what failed it (its last step's error). */
export class RunFailedError extends RunstreamError {
  readonly code = 'RUN_FAILED';
  constructor(
    readonly runId: string,
    readonly error: ErrorInfo | null,
  ) {
    super(`run ${runId} failed${error ? `: ${error.message}` : ''}`);
  }
}

/** A run's result was asked for, and the run was cancelled. */
export class RunCancelledError extends RunstreamError {
  readonly code = 'RUN_CANCELLED';
  constructor(readonly runId: string) {
    super(`run ${runId} was cancelled`);
  }
}

export class ScheduleNotFoundError extends RunstreamError {
  readonly code = 'SCHEDULE_NOT_FOUND';
  constructor(readonly scheduleId: string) {
    super(`schedule ${scheduleId} does not exist`);
  }
}

/** A create naming a schedule that exists already. Nothing was written. */
export class ScheduleExistsError extends RunstreamError {
  readonly code = 'SCHEDULE_EXISTS';
  readonly field = 'id';
  constructor(readonly scheduleId: string) {
    super(`schedule ${scheduleId} exists already`);
  }
}
