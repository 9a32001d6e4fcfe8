import { isTerminal, type RunEvent, type RunStatus } from '@runstream/domain';

/**
 * Just under the integration suite's test timeout (60 s): a wait is a failure deadline, never a measure of speed,
 * so it allows what the test itself allows, and a stuck wait still fails with what it was waiting for.
 */
const DEFAULT_WAIT_MS = 55_000;

export interface WaitOptions {
  /** Give up (and fail the test with what was last seen) after this long. Default 55 s. */
  timeoutMs?: number;
}

/** Tells a waiter that something may have changed (a runtime's bus fits). */
export interface ChangeSignals {
  subscribe(runId: string, listener: () => void): () => void;
  subscribeAll(listener: () => void): () => void;
}

/**
 * Where the facts are read: a runtime (`@runstream/runtime`) fits. Described by shape, so that testkit needs no
 * Runstream package above `db` and every layer's tests can use it.
 */
export interface FactSources<R extends { status: RunStatus; lastSeq: number } = { status: RunStatus; lastSeq: number }> {
  bus: ChangeSignals;
  eventLog: {
    read(runId: string, options: { fromSeq: number; limit: number }): Promise<RunEvent[]>;
    readStream(runId: string): AsyncIterable<RunEvent>;
  };
  runs: { get(runId: string): Promise<R | null> };
}

/**
 * Re-checks `probe` each time the bus says a run changed (`runId`'s, or any run of the namespace without one), and
 * every `recheckMs` besides, until it returns a value. The check runs against the database, so a missed signal
 * only delays it until the next one or the re-check (LISTEN can drop); the deadline is a failure, never a success.
 */
export async function waitUntil<T>(
  runtime: { bus: ChangeSignals },
  probe: () => Promise<T | undefined>,
  describe: string | (() => Promise<string> | string),
  { timeoutMs = DEFAULT_WAIT_MS, runId, recheckMs = 500 }: WaitOptions & { runId?: string; recheckMs?: number } = {},
): Promise<T> {
  let wake: () => void = () => {};
  const unsubscribe = runId ? runtime.bus.subscribe(runId, () => wake()) : runtime.bus.subscribeAll(() => wake());
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
      await Promise.race([signalled, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(remaining, recheckMs))))]);
      clearTimeout(timer);
    }
  } finally {
    unsubscribe();
  }
}

/** Resolves with the run's event at `seq` once it is committed. */
export function waitForSeq(runtime: FactSources, runId: string, seq: number, options: WaitOptions = {}): Promise<RunEvent> {
  return waitUntil(
    runtime,
    async () => (await runtime.eventLog.read(runId, { fromSeq: seq, limit: 1 })).find((event) => event.seq === seq),
    async () => `run ${runId} to reach seq ${seq} (it is at ${(await runtime.runs.get(runId))?.lastSeq ?? 'no run'})`,
    { ...options, runId },
  );
}

/** Resolves with the first event of `type` in the run's log (optionally matching `where`). */
export function waitForEvent(
  runtime: FactSources,
  runId: string,
  type: RunEvent['type'],
  options: WaitOptions & { where?: (event: RunEvent) => boolean } = {},
): Promise<RunEvent> {
  return waitUntil(
    runtime,
    async () => {
      for await (const event of runtime.eventLog.readStream(runId)) {
        if (event.type === type && (options.where?.(event) ?? true)) return event;
      }
      return undefined;
    },
    async () => `an event ${type} in run ${runId}`,
    { ...options, runId },
  );
}

/** Resolves with the run once its status is one of `statuses` (default: any terminal status). */
export function waitForStatus<R extends { status: RunStatus; lastSeq: number }>(
  runtime: FactSources<R>,
  runId: string,
  statuses?: RunStatus | RunStatus[],
  options: WaitOptions = {},
): Promise<R> {
  const wanted = statuses === undefined ? null : new Set([statuses].flat());
  return waitUntil(
    runtime,
    async () => {
      const run = await runtime.runs.get(runId);
      if (run && (wanted ? wanted.has(run.status) : isTerminal(run.status))) return run;
      return undefined;
    },
    async () =>
      `run ${runId} to become ${wanted ? [...wanted].join('|') : 'terminal'} (it is ${(await runtime.runs.get(runId))?.status ?? 'missing'})`,
    { ...options, runId },
  );
}
