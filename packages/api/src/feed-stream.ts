import { withEventMeta } from '@orpc/server';
import { lifecycleEventTypes } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { toApiErrorOrFault } from './errors.js';
import { presentEvent, streamAbortedError } from './presentation.js';
import { Wakeups, type StreamContext, type StreamSettings } from './stream-control.js';

/** The feed position right after everything `readAll` can return now: only what commits from here on follows. */
export function currentFeedCursor(runtime: Pick<Runtime, 'store'>): Promise<string> {
  return runtime.store.feed.currentCursor();
}

/**
 * Run lifecycle events across runs, in the feed's gap-safe (transaction, position) order, each with its cursor
 * as the SSE id. Never ends on its own. `readAll` withholds transactions younger than the oldest one in flight,
 * so a wake-up may find nothing new yet; the safety re-check picks it up then.
 */
export async function* feedStream(
  runtime: Pick<Runtime, 'bus' | 'eventLog'>,
  options: { after: string; settings: StreamSettings; exposeStacks: boolean },
  { open, shuttingDown, gate, logger }: StreamContext,
): AsyncGenerator<ReturnType<typeof presentEvent> & { cursor: string }, void> {
  const { settings } = options;
  const stream = open();
  const wakeups = new Wakeups(stream.signal);
  const unsubscribe = runtime.bus.subscribeAll(wakeups.notify);
  let advertisedRetry = false;
  try {
    let cursor = options.after;
    for (;;) {
      if (stream.signal.aborted) break;
      wakeups.clear();
      const page = await gate.run(stream.signal, () => runtime.eventLog.readAll({ after: cursor, limit: settings.pageSize }));
      for (const event of page.events) {
        cursor = event.cursor;
        if (!lifecycleEventTypes.has(event.type)) continue;
        const meta = advertisedRetry ? { id: event.cursor } : { id: event.cursor, retry: settings.retryMs };
        advertisedRetry = true;
        yield withEventMeta({ ...presentEvent(event, options.exposeStacks), cursor: event.cursor }, meta);
        if (stream.signal.aborted) break;
      }
      if (stream.signal.aborted) break;
      if (page.events.length >= settings.pageSize) continue;
      await wakeups.wait(settings.recheckMs);
    }
  } catch (error) {
    if (!stream.signal.aborted) throw toApiErrorOrFault(error, logger, 'feed stream');
  } finally {
    unsubscribe();
    wakeups.dispose();
    stream.end();
  }
  throw streamAbortedError(shuttingDown());
}
