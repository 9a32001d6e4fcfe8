import type { ErrorInfo, RunStatus, SignalWait } from '@runstream/domain';
import type { RunRow } from '@runstream/db';

export interface Run {
  id: string;
  workflow: string;
  workflowVersion: string | null;
  input: unknown;
  status: RunStatus;
  idempotencyKey: string | null;
  /** The run that started this one (`ctx.startChild`), if any. */
  parentRunId: string | null;
  /** Runs that must succeed before this one starts (empty when none). */
  after: string[];
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
  /** The signal the run waits for (with the JSON Schema its data must match); null when it waits for none. */
  waiting: SignalWait | null;
}

export function toRun(row: RunRow): Run {
  const { afterRunIds, ...rest } = row;
  return { ...rest, after: afterRunIds ?? [], error: row.error as ErrorInfo | null, waiting: row.waiting as SignalWait | null };
}

/** A canonical UUID; anything else would make PostgreSQL reject the whole query. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
