import { withEventMeta } from '@orpc/server';
import { isTerminal, MAX_INT4, RunNotFoundError, terminalStatusOf, type EventType, type RunStatus } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { badRequest, toApiErrorOrFault } from './errors.js';
import { presentEvent, streamAbortedError, type FramedEvent } from './presentation.js';
import { Wakeups, type StreamContext, type StreamSettings } from './stream-control.js';

/** `Last-Event-ID` of a run stream: the seq last received (each event's SSE id is its seq). */
export function seqAfterLastEventId(lastEventId: string): number {
  const seq = /^\d{1,15}$/.test(lastEventId.trim()) ? Number(lastEventId.trim()) : NaN;
  // MAX_INT4 is the last seq a run can have: nothing can follow it.
  if (!(seq < MAX_INT4)) throw badRequest([{ field: 'Last-Event-ID', message: 'must be the seq of the last event received' }]);
  return seq + 1;
}

/** What the follow loop needs of an event: its seq, and its type to tell the run's end. */
interface Sequenced {
  seq: number;
  type: EventType;
}

/**
 * One run's events from `fromSeq`, page by page, then live, then the run's end (`status`, `lastSeq`) once it is
 * terminal and everything up to its last seq was yielded. Subscribes to the bus before the first read, so an
 * append committed at any point after that either is in a read or wakes a later one; `next` only moves forward,
 * so a seq is never yielded twice. Reads one page at a time, only when the consumer pulls: a slow client is
 * served at its own pace from the log. Followers of the same run woken by the same append share one read
 * (`gate.shared`), and so the page's objects: whatever is derived from an event once serves them all.
 */
async function* followRun<T extends Sequenced>(
  runtime: Pick<Runtime, 'bus' | 'runs'>,
  options: { runId: string; fromSeq: number; settings: StreamSettings; readKey: string },
  read: (fromSeq: number, limit: number) => Promise<readonly T[]>,
  { open, shuttingDown, gate, logger }: StreamContext,
): AsyncGenerator<readonly T[], { status: RunStatus; lastSeq: number }> {
  // Everything is acquired on the first pull (a generator never started holds nothing) and released in `finally`.
  const { runId, settings } = options;
  const stream = open();
  const wakeups = new Wakeups(stream.signal);
  let next = options.fromSeq;
  // An append is heard by NOTIFY and on its own node directly (and through the outbox drainer when it left a
  // row): only a seq not read yet, or a resync, wakes.
  const unsubscribe = runtime.bus.subscribe(runId, (signal) => {
    if (signal.kind === 'resync' || signal.lastSeq >= next) wakeups.notify();
  });
  try {
    for (;;) {
      if (stream.signal.aborted) break;
      wakeups.clear();
      const fromSeq = next;
      const page = await gate.shared(`${options.readKey}:${runId}:${fromSeq}:${settings.pageSize}`, stream.signal, () =>
        read(fromSeq, settings.pageSize),
      );
      const first = page.findIndex((event) => event.seq >= next);
      const fresh = first < 0 ? [] : first === 0 ? page : page.slice(first);
      const last = fresh.at(-1);
      if (last) {
        next = last.seq + 1;
        yield fresh;
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

/** One run's events (see `followRun`) as objects, each with its SSE id: the contract's `runs.stream` over oRPC. */
export async function* runEventStream(
  runtime: Pick<Runtime, 'bus' | 'eventLog' | 'runs'>,
  options: { runId: string; fromSeq: number; settings: StreamSettings; exposeStacks: boolean },
  context: StreamContext,
): AsyncGenerator<ReturnType<typeof presentEvent>, { status: RunStatus; lastSeq: number }> {
  const { runId, settings, exposeStacks } = options;
  const pages = followRun(
    runtime,
    { runId, fromSeq: options.fromSeq, settings, readKey: 'objects' },
    async (fromSeq, limit) => (await runtime.eventLog.read(runId, { fromSeq, limit })).map((event) => presentEvent(event, exposeStacks)),
    context,
  );
  let advertisedRetry = false;
  try {
    for (;;) {
      const page = await pages.next();
      if (page.done) return page.value;
      for (const event of page.value) {
        const meta = advertisedRetry ? { id: String(event.seq) } : { id: String(event.seq), retry: settings.retryMs };
        advertisedRetry = true;
        yield withEventMeta(event, meta);
      }
    }
  } finally {
    await pages.return(undefined as never);
  }
}

/**
 * One run's events (see `followRun`) as JSON text encoded by PostgreSQL, a page at a time: what the SSE route
 * writes to the socket. Followers sharing a read share its page, and each event's frame is encoded once for all
 * of them (`sseEventFrame`).
 */
export function runEventPages(
  runtime: Pick<Runtime, 'bus' | 'eventLog' | 'runs'>,
  options: { runId: string; fromSeq: number; settings: StreamSettings; exposeStacks: boolean },
  context: StreamContext,
): AsyncGenerator<readonly FramedEvent[], { status: RunStatus; lastSeq: number }> {
  const { runId, exposeStacks } = options;
  return followRun(
    runtime,
    { ...options, readKey: exposeStacks ? 'framed+stacks' : 'framed' },
    (fromSeq, limit): Promise<FramedEvent[]> => runtime.eventLog.readEncoded(runId, { fromSeq, limit, withStacks: exposeStacks }),
    context,
  );
}
