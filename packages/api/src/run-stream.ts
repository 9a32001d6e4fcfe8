import { withEventMeta } from '@orpc/server';
import { isTerminal, MAX_INT4, RunNotFoundError, terminalStatusOf, type RunEvent, type RunStatus } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { badRequest, toApiErrorOrFault } from './errors.js';
import { presentEvent, streamAbortedError } from './presentation.js';
import { Wakeups, type StreamContext, type StreamSettings } from './stream-control.js';

/** `Last-Event-ID` of a run stream: the seq last received (each event's SSE id is its seq). */
export function seqAfterLastEventId(lastEventId: string): number {
  const seq = /^\d{1,15}$/.test(lastEventId.trim()) ? Number(lastEventId.trim()) : NaN;
  // MAX_INT4 is the last seq a run can have: nothing can follow it.
  if (!(seq < MAX_INT4)) throw badRequest([{ field: 'Last-Event-ID', message: 'must be the seq of the last event received' }]);
  return seq + 1;
}

/**
 * One run's events from `fromSeq`, then live, then `done` once the run is terminal and everything up to its last
 * seq was sent. Subscribes to the bus before the first read, so an append committed at any point after that
 * either is in a read or wakes a later one; `next` only moves forward, so a seq is never sent twice. Reads one
 * page at a time, only when the consumer pulls: a slow client is served at its own pace from the log.
 */
export async function* runEventStream(
  runtime: Pick<Runtime, 'bus' | 'eventLog' | 'runs'>,
  options: { runId: string; fromSeq: number; settings: StreamSettings; exposeStacks: boolean },
  { open, shuttingDown, gate, logger }: StreamContext,
): AsyncGenerator<ReturnType<typeof presentEvent>, { status: RunStatus; lastSeq: number }> {
  // Everything is acquired on the first pull (a generator never started holds nothing) and released in `finally`.
  const { runId, settings } = options;
  const stream = open();
  const wakeups = new Wakeups(stream.signal);
  let next = options.fromSeq;
  // Each append is heard twice (NOTIFY, then the outbox drainer): only a seq not read yet, or a resync, wakes.
  const unsubscribe = runtime.bus.subscribe(runId, (signal) => {
    if (signal.kind === 'resync' || signal.lastSeq >= next) wakeups.notify();
  });
  let advertisedRetry = false;
  try {
    for (;;) {
      if (stream.signal.aborted) break;
      wakeups.clear();
      const fromSeq = next;
      const page = await gate.shared(`${runId}:${fromSeq}:${settings.pageSize}`, stream.signal, () =>
        runtime.eventLog.read(runId, { fromSeq, limit: settings.pageSize }),
      );
      let last: RunEvent | undefined;
      for (const event of page) {
        if (event.seq < next) continue;
        const meta = advertisedRetry ? { id: String(event.seq) } : { id: String(event.seq), retry: settings.retryMs };
        advertisedRetry = true;
        yield withEventMeta(presentEvent(event, options.exposeStacks), meta);
        next = event.seq + 1;
        last = event;
        if (stream.signal.aborted) break;
      }
      if (stream.signal.aborted) break;
      if (page.length >= settings.pageSize) continue;
      if (last) {
        // A short page ends at the run's last committed seq: a terminal event there means the run is done.
        const status = terminalStatusOf(last.type);
        if (status) return { status, lastSeq: last.seq };
      } else {
        const run = await gate.run(stream.signal, () => runtime.runs.get(runId));
        if (!run) throw new RunNotFoundError(runId);
        if (run.lastSeq >= next) continue;
        if (isTerminal(run.status)) return { status: run.status, lastSeq: run.lastSeq };
      }
      await wakeups.wait(settings.recheckMs);
    }
  } catch (error) {
    if (!stream.signal.aborted) throw toApiErrorOrFault(error, logger, `stream of run ${runId}`);
  } finally {
    unsubscribe();
    wakeups.dispose();
    stream.end();
  }
  // Aborted: the server is closing (the client should reconnect), or the client left and nobody reads this.
  throw streamAbortedError(shuttingDown());
}
