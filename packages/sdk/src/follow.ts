import { isTerminal, RunNotFoundError, type RunEvent } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';

export interface FollowOptions {
  /** First seq to deliver (default 1): pass the last seq you saw + 1 to resume. */
  fromSeq?: number;
  /** Aborting ends the iteration (the loop exits without an error). */
  signal?: AbortSignal;
}

/** Events read per log query. */
const PAGE_SIZE = 500;
/** A re-read without any bus signal, in case one was lost (the LISTEN connection reconnecting). */
const RECHECK_MS = 2_000;

/**
 * A run's events from `fromSeq`, in seq order with no gaps, until the run is terminal and every event up to
 * its last seq was delivered: the in-process equivalent of the SSE stream. Reads the log page by page and
 * waits on the runtime's bus for more.
 */
export async function* followRunEvents(runtime: Runtime, runId: string, options: FollowOptions = {}): AsyncGenerator<RunEvent> {
  const { signal } = options;
  let next = Math.max(1, options.fromSeq ?? 1);
  let signalled = false;
  let wake: (() => void) | null = null;
  const unsubscribe = runtime.bus.subscribe(runId, () => {
    signalled = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    while (!signal?.aborted) {
      signalled = false;
      const page = await runtime.eventLog.read(runId, { fromSeq: next, limit: PAGE_SIZE });
      for (const event of page) {
        yield event;
        next = event.seq + 1;
      }
      if (page.length === PAGE_SIZE) continue;
      const run = await runtime.runs.get(runId);
      if (!run) throw new RunNotFoundError(runId);
      if (next <= run.lastSeq) continue;
      if (isTerminal(run.status)) return;
      if (signalled || signal?.aborted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, RECHECK_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', onAbort);
  }
}
