import { ORPCError, ValidationError as InputValidationError } from '@orpc/server';
import {
  ConcurrencyError,
  fieldPath,
  IdempotencyKeyReusedError,
  InvalidCursorError,
  isDependencyOutage,
  RunNotFoundError,
  RunStatusConflictError,
  ScheduleExistsError,
  ScheduleNotFoundError,
  UnknownWorkflowError,
  ValidationError,
} from '@runstream/domain';

export interface ApiLogger {
  error(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
}

export interface FieldIssue {
  field: string;
  message: string;
}

/** The contract's BAD_REQUEST: `data.field` names the (first) wrong field, `data.issues` lists them all. */
export function badRequest(issues: [FieldIssue, ...FieldIssue[]], message?: string, cause?: unknown) {
  return new ORPCError('BAD_REQUEST', {
    status: 400,
    message: message ?? `${issues[0].field}: ${issues[0].message}`,
    data: { field: issues[0].field, issues },
    cause,
  });
}

type PathSegment = PropertyKey | { key: PropertyKey };

/** Standard Schema issues (what oRPC's input validation reports) as contract issues: `input.count`, `fromSeq`. */
export function issuesOf(error: InputValidationError): [FieldIssue, ...FieldIssue[]] {
  const issues = error.issues.map((issue) => ({
    field: fieldPath(
      '',
      (issue.path ?? []).map((segment: PathSegment) => (typeof segment === 'object' ? segment.key : segment)),
    ),
    message: issue.message,
  }));
  return issues.length > 0 ? (issues as [FieldIssue, ...FieldIssue[]]) : [{ field: '(root)', message: error.message }];
}

/** Seconds a client should wait before retrying a call refused because a dependency is unreachable. */
export const RETRY_AFTER_SECONDS = 1;

/** The contract's answer to an outage: 503, a stable code, and how long to wait (also `Retry-After`). */
export function dependencyUnavailable(cause: unknown): ORPCError<string, unknown> {
  return new ORPCError('DEPENDENCY_UNAVAILABLE', {
    status: 503,
    message: 'a service Runstream depends on is unreachable; retry later',
    data: { retryAfterSeconds: RETRY_AFTER_SECONDS },
    cause,
  });
}

/** The `Retry-After` header an error response carries: on every 503 (an outage, or the server shutting down). */
export function retryAfterHeader(error: ORPCError<string, unknown>): string | undefined {
  return error.status === 503 ? String(RETRY_AFTER_SECONDS) : undefined;
}

/**
 * What is logged about a fault: names, codes, PostgreSQL's message and the stack frames, but neither the SQL
 * text nor its parameters (drizzle puts both in its message; they may hold run inputs).
 */
export function describeFault(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return typeof error === 'string' ? error.slice(0, 200) : typeof error;
  const code = 'code' in error ? error.code : undefined;
  const message = error.message.startsWith('Failed query:') ? 'query failed' : error.message.split('\n', 1)[0]!.slice(0, 200);
  const frames = (error.stack ?? '').split('\n').filter((line) => line.startsWith('    at ')).join('\n');
  return {
    name: error.name,
    message,
    ...(code === undefined ? {} : { code }),
    ...(frames ? { stack: frames } : {}),
    ...(error.cause !== undefined && depth < 3 ? { cause: describeFault(error.cause, depth + 1) } : {}),
  };
}

/**
 * Maps what a procedure threw to the error the client sees: domain errors to the contract's typed errors with
 * stable codes, oRPC's input validation to BAD_REQUEST naming the field, an unreachable dependency to 503
 * DEPENDENCY_UNAVAILABLE. Returns null for anything unexpected
 * (a real fault), which the caller logs and reports as a bare 500.
 */
export function toApiError(error: unknown): ORPCError<string, unknown> | null {
  if (isDependencyOutage(error)) return dependencyUnavailable(error);
  if (error instanceof ORPCError) {
    if (error.code === 'BAD_REQUEST' && error.cause instanceof InputValidationError) {
      const issues = issuesOf(error.cause);
      return badRequest(issues, `invalid input: ${issues[0].field}: ${issues[0].message}`, error.cause);
    }
    return error;
  }
  if (error instanceof ValidationError) {
    return badRequest([...error.issues] as [FieldIssue, ...FieldIssue[]], error.message, error);
  }
  if (error instanceof InvalidCursorError || error instanceof UnknownWorkflowError) {
    return badRequest([{ field: error.field, message: error.message }], error.message, error);
  }
  if (error instanceof RunNotFoundError) {
    return new ORPCError('NOT_FOUND', { status: 404, message: error.message, data: { id: error.runId }, cause: error });
  }
  if (error instanceof ScheduleNotFoundError) {
    return new ORPCError('NOT_FOUND', { status: 404, message: error.message, data: { id: error.scheduleId }, cause: error });
  }
  if (error instanceof ScheduleExistsError) {
    return new ORPCError('SCHEDULE_EXISTS', {
      status: 409,
      message: error.message,
      data: { id: error.scheduleId, field: error.field },
      cause: error,
    });
  }
  if (error instanceof RunStatusConflictError) {
    return new ORPCError('CONFLICT', {
      status: 409,
      message: error.message,
      data: { id: error.runId, status: error.status },
      cause: error,
    });
  }
  if (error instanceof IdempotencyKeyReusedError) {
    return new ORPCError('IDEMPOTENCY_KEY_REUSED', {
      status: 409,
      message: error.message,
      data: { id: error.runId, field: error.field },
      cause: error,
    });
  }
  if (error instanceof ConcurrencyError) {
    return new ORPCError('CONFLICT', {
      status: 409,
      message: `${error.message}; re-read the run and try again`,
      data: { id: error.runId, status: 'changed' },
      cause: error,
    });
  }
  return null;
}

/**
 * `toApiError`, logging and hiding anything unexpected behind INTERNAL_SERVER_ERROR (no message, no stack). An
 * outage is logged as a warning: it is not a bug.
 */
export function toApiErrorOrFault(error: unknown, logger: ApiLogger, where: string): ORPCError<string, unknown> {
  const mapped = toApiError(error);
  if (mapped && mapped.status < 500) return mapped;
  if (mapped?.code === 'DEPENDENCY_UNAVAILABLE') {
    logger.warn(`[runstream:api] ${where}: a dependency is unreachable`, describeFault(error));
    return mapped;
  }
  logger.error(`[runstream:api] ${where} failed`, describeFault(error));
  if (mapped) return mapped;
  return new ORPCError('INTERNAL_SERVER_ERROR', { status: 500, message: 'Internal server error', cause: error });
}

/** The JSON body oRPC uses for errors, for the routes served outside it (health, metrics, 404s). */
export function errorBody(code: string, status: number, message: string, data?: unknown): string {
  return JSON.stringify({ defined: false, code, status, message, ...(data === undefined ? {} : { data }) });
}
