/**
 * Live streams that survive a server restart or a network drop.
 *
 * Run stream (`EventSource`): while the browser reconnects on its own it sends `Last-Event-ID` (the last seq it
 * received), which the server prefers over `fromSeq`. When the browser gives up (readyState CLOSED, e.g. an HTTP
 * 502/503 or 401 while the server restarts), we open a new one at `?fromSeq=<last rendered + 1>` after a capped
 * exponential backoff, minting a fresh read token if auth is on. The page drops any seq it already rendered, and
 * a gap makes us reopen from the seq we are missing, so no line is duplicated or lost. `done` closes it.
 *
 * Feed (`fetch` + a small SSE parser): it needs the bearer header when auth is on, which `EventSource` cannot
 * send. It resumes after the last cursor with `Last-Event-ID`.
 */
import { ApiError, auth, runStreamUrl, type FeedEvent, type RunEvent, type RunStatus } from './api.js';

export type LinkState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

export const backoff = (attempt: number) => Math.min(5_000, 250 * 2 ** Math.max(0, attempt - 1));

/** Server error codes no reconnect can fix. */
const finalCodes = new Set(['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'BAD_REQUEST']);

export interface RunStreamHandlers {
  /** The next seq the page wants: the last rendered + 1. */
  nextSeq(): number;
  /** Returns 'gap' when the event skipped ahead: the stream is reopened from `nextSeq()`. */
  onEvent(event: RunEvent): 'applied' | 'duplicate' | 'gap';
  onDone(end: { status: RunStatus; lastSeq: number }): void;
  onState(state: LinkState, detail?: string): void;
}

/** Follows a run's event stream until `done` (or a final error); returns a function that stops it. */
export function followRunStream(runId: string, handlers: RunStreamHandlers): () => void {
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let stopped = false;

  const close = () => {
    source?.close();
    source = null;
  };
  const stop = (state: LinkState, detail?: string) => {
    stopped = true;
    clearTimeout(timer);
    close();
    handlers.onState(state, detail);
  };
  const reopen = (immediately = false) => {
    close();
    if (stopped) return;
    clearTimeout(timer);
    failures += 1;
    const delay = immediately ? 0 : backoff(failures);
    handlers.onState('reconnecting', immediately ? undefined : `retrying in ${(delay / 1000).toFixed(1)} s`);
    timer = setTimeout(open, delay);
  };

  async function open() {
    if (stopped) return;
    let url: string;
    try {
      url = await runStreamUrl(runId, handlers.nextSeq());
    } catch (error) {
      if (error instanceof ApiError && finalCodes.has(error.code)) return stop('failed', error.message);
      return reopen();
    }
    if (stopped) return;
    const es = new EventSource(url);
    source = es;
    es.onopen = () => {
      handlers.onState('live');
    };
    es.onmessage = (message: MessageEvent<string>) => {
      if (source !== es) return;
      let event: RunEvent;
      try {
        event = JSON.parse(message.data) as RunEvent;
      } catch {
        return;
      }
      failures = 0;
      if (handlers.onEvent(event) === 'gap') reopen(true);
    };
    es.addEventListener('done', (message: MessageEvent<string>) => {
      if (source !== es) return;
      const end = JSON.parse(message.data) as { status: RunStatus; lastSeq: number };
      if (end.lastSeq >= handlers.nextSeq()) return reopen(true); // ended past what we hold: fetch the rest
      stop('ended');
      handlers.onDone(end);
    });
    es.addEventListener('error', (event: Event) => {
      if (source !== es) return;
      // An `error` event sent by the server carries data; a connection error does not.
      const data = (event as MessageEvent<string>).data;
      if (typeof data === 'string' && data) {
        let error: { code?: string; message?: string } = {};
        try {
          error = JSON.parse(data) as typeof error;
        } catch {
          error = { message: data };
        }
        if (error.code && finalCodes.has(error.code)) {
          if (error.code === 'UNAUTHORIZED') return reopen(); // an expired read token: mint another
          return stop('failed', error.message ?? error.code);
        }
        return reopen();
      }
      if (es.readyState === EventSource.CLOSED) reopen();
      else handlers.onState('reconnecting');
    });
  }

  handlers.onState('connecting');
  void open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    close();
  };
}

export interface FeedHandlers {
  onEvent(event: FeedEvent): void;
  onState(state: LinkState): void;
  /** Called after a reconnect, for views that want to re-read what they show. */
  onResumed?(): void;
}

/** Follows the cross-run feed from now on, resuming after the last cursor; returns a function that stops it. */
export function followFeed(handlers: FeedHandlers): () => void {
  const controller = new AbortController();
  let cursor: string | undefined;
  let failures = 0;

  async function connect(): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...auth.headers() };
    if (cursor) headers['last-event-id'] = cursor;
    const response = await fetch('/api/feed/stream', { headers, signal: controller.signal, cache: 'no-store' });
    if (!response.ok || !response.body) throw new Error(`feed answered ${response.status}`);
    handlers.onState('live');
    if (failures > 0) handlers.onResumed?.();
    failures = 0;
    for await (const message of readServerSentEvents(response.body)) {
      if (message.event === 'message' && message.data) {
        const event = JSON.parse(message.data) as FeedEvent;
        cursor = message.id ?? event.cursor ?? cursor;
        handlers.onEvent(event);
      }
    }
  }

  void (async () => {
    handlers.onState('connecting');
    while (!controller.signal.aborted) {
      try {
        await connect();
      } catch {
        // reconnect below
      }
      if (controller.signal.aborted) break;
      failures += 1;
      handlers.onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, backoff(failures)));
    }
  })();
  return () => controller.abort();
}

interface ServerSentEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/** Parses a `text/event-stream` body into its events (the WHATWG format: fields, blank-line separated). */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (data.length > 0 || event) yield { event: event || 'message', data: data.join('\n'), id };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
