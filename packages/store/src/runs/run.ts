import type { ErrorInfo, RunStatus } from '@runstream/domain';
import type { RunRow } from '@runstream/db';

export interface Run {
  id: string;
  workflow: string;
  workflowVersion: string | null;
  input: unknown;
  status: RunStatus;
  idempotencyKey: string | null;
  lastSeq: number;
  attempts: number;
  retries: number;
  cancelRequested: boolean;
  output: unknown;
  error: ErrorInfo | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The workflow's concurrency key taken from the input; null when the workflow limits by none. */
  concurrencyKey: string | null;
  /** Why the run waits rather than executes (a concurrency limit); null when nothing holds it back. */
  waitingReason: string | null;
}

export function toRun(row: RunRow): Run {
  return { ...row, error: row.error as ErrorInfo | null };
}

/** A canonical UUID; anything else would make PostgreSQL reject the whole query. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
