import { ORPCError, ValidationError as InputValidationError } from '@orpc/server';
import {
  ConcurrencyError,
  fieldPath,
  IdempotencyKeyReusedError,
  InvalidCursorError,
  RunNotFoundError,
  RunStatusConflictError,
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

/**
 * Maps what a procedure threw to the error the client sees: domain errors to the contract's typed errors with
 * stable codes, oRPC's input validation to BAD_REQUEST naming the field. Returns null for anything unexpected
 * (a real fault), which the caller logs and reports as a bare 500.
 */
export function toApiError(error: unknown): ORPCError<string, unknown> | null {
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

/** `toApiError`, logging and hiding anything unexpected behind INTERNAL_SERVER_ERROR (no message, no stack). */
export function toApiErrorOrFault(error: unknown, logger: ApiLogger, where: string): ORPCError<string, unknown> {
  const mapped = toApiError(error);
  if (mapped && mapped.status < 500) return mapped;
  logger.error(`[runstream:api] ${where} failed`, error);
  if (mapped) return mapped;
  return new ORPCError('INTERNAL_SERVER_ERROR', { status: 500, message: 'Internal server error', cause: error });
}

/** The JSON body oRPC uses for errors, for the routes served outside it (health, metrics, 404s). */
export function errorBody(code: string, status: number, message: string, data?: unknown): string {
  return JSON.stringify({ defined: false, code, status, message, ...(data === undefined ? {} : { data }) });
}
