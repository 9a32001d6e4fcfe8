import type { Database } from '@runstream/db';
import type { RunEvent } from '@runstream/domain';
import { sql } from 'drizzle-orm';

/** A promise the test settles: a step awaiting `gate.promise` is held until the test calls `open()`. */
export interface Gate<T = void> {
  promise: Promise<T>;
  open(value: T): void;
  /** Whether something is waiting on the gate: resolves once `promise` was first awaited through `entered()`. */
  entered: Promise<void>;
  enter(): Promise<T>;
}

export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  let markEntered!: () => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  const entered = new Promise<void>((resolve) => (markEntered = resolve));
  return {
    promise,
    open,
    entered,
    enter() {
      markEntered();
      return promise;
    },
  };
}

/** `run.started` workers of a run's log, in order. */
export function startedBy(events: RunEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'run.started' ? [event.data.workerId] : []));
}

/** The log as `type` or `type:step#attempt`, for whole-log comparisons. */
export function outline(events: RunEvent[]): string[] {
  return events.map((event) =>
    event.type.startsWith('step.') && 'step' in event.data
      ? `${event.type}:${event.data.step}#${(event.data as { attempt: number }).attempt}`
      : event.type,
  );
}

/** The run's lease columns (not part of the Run model). */
export async function leaseOf(
  db: Database,
  runId: string,
): Promise<{ owner: string | null; token: number; expiresAt: Date | null }> {
  const [row] = await db.execute<{ lease_owner: string | null; lease_token: number; lease_expires_at: string | null }>(
    sql`select lease_owner, lease_token, lease_expires_at::text from runs where id = ${runId}`,
  );
  if (!row) throw new Error(`run ${runId} not found`);
  return {
    owner: row.lease_owner,
    token: row.lease_token,
    expiresAt: row.lease_expires_at === null ? null : new Date(row.lease_expires_at),
  };
}
