import type { Database } from '@runstream/db';
import type { RunEvent } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { sql } from 'drizzle-orm';

/**
 * Re-checks `probe` whenever any run of the namespace gets events (and every 250 ms besides, in case a signal is
 * missed), until it returns a value. For facts spanning runs; per-run facts use the testkit's waitFor helpers.
 * The deadline is a failure, never a success.
 */
export async function waitUntil<T>(
  runtime: Pick<Runtime, 'bus'>,
  probe: () => Promise<T | undefined>,
  describe: string | (() => Promise<string> | string),
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<T> {
  let wake: () => void = () => {};
  const unsubscribe = runtime.bus.subscribeAll(() => wake());
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const signalled = new Promise<void>((resolve) => (wake = resolve));
      const found = await probe();
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof describe === 'string' ? describe : await describe()}`);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([signalled, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(remaining, 250))))]);
      clearTimeout(timer);
    }
  } finally {
    unsubscribe();
  }
}

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
