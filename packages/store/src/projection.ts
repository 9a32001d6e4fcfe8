import type { ErrorInfo, RunState, RunStatus, SignalWait } from '@runstream/domain';

/** The projection columns of a `runs` row as raw SQL returns them. */
export type ProjectionRow = {
  status: RunStatus;
  last_seq: number;
  attempts: number;
  retries: number;
  cancel_requested: boolean;
  started_at: string | Date | null;
  finished_at: string | Date | null;
  output: unknown;
  error: ErrorInfo | null;
  wake_at: string | Date | null;
  waiting: SignalWait | null;
};

const toDate = (value: string | Date | null) => (value === null ? null : new Date(value));

export function stateFromRow(row: ProjectionRow): RunState {
  return {
    status: row.status,
    attempts: row.attempts,
    retries: row.retries,
    cancelRequested: row.cancel_requested,
    startedAt: toDate(row.started_at),
    finishedAt: toDate(row.finished_at),
    output: row.output,
    error: row.error,
    wakeAt: toDate(row.wake_at),
    waiting: row.waiting,
  };
}
