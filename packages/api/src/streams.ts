import { ORPCError, withEventMeta } from '@orpc/server';
import { isTerminal, RunNotFoundError, type RunEvent, type RunStatus } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { sql } from 'drizzle-orm';
import { toApiErrorOrFault, type ApiLogger } from './errors.js';

/**
 * Wake-ups for one stream, holding no events: a bus listener only flips `dirty` and resolves the pending
 * wait. `wait` returns on a signal heard since the last `clear`, on the safety timer, or when the stream is
 * aborted, so a disconnect never waits out a timer.
 */
export class Wakeups {
  private dirty = false;
  private wake: (() => void) | null = null;

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort);
  }

  /** The bus listener. */
  readonly notify = (): void => {
    this.dirty = true;
    this.wake?.();
  };

  private readonly onAbort = (): void => this.wake?.();

  /** Forget the signals heard so far. Call right before reading, so one that arrives during the read counts. */
  clear(): void {
    this.dirty = false;
  }

  async wait(ms: number): Promise<void> {
    if (this.dirty || this.signal.aborted) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.wake = null;
  }

  dispose(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.wake?.();
    this.wake = null;
  }
}

/** Open streams, each with its own abort: the request's signal (a disconnect) or the server closing. */
export class StreamTracker {
  private readonly open = new Map<AbortController, 'run' | 'feed'>();
  private readonly idle = new Set<() => void>();
  private closing = false;

  /** Registers a stream; `end()` must run in the generator's `finally`. */
  begin(kind: 'run' | 'feed', requestSignal: AbortSignal | undefined): { signal: AbortSignal; end(): void } {
    const controller = new AbortController();
    const onAbort = () => controller.abort(requestSignal?.reason);
    if (this.closing || requestSignal?.aborted) controller.abort();
    else requestSignal?.addEventListener('abort', onAbort, { once: true });
    this.open.set(controller, kind);
    return {
      signal: controller.signal,
      end: () => {
        requestSignal?.removeEventListener('abort', onAbort);
        this.open.delete(controller);
        if (this.open.size === 0) for (const resolve of this.idle) resolve();
      },
    };
  }

  count(kind?: 'run' | 'feed'): number {
    if (kind === undefined) return this.open.size;
    let n = 0;
    for (const k of this.open.values()) if (k === kind) n++;
    return n;
  }

  get shuttingDown(): boolean {
    return this.closing;
  }

  /** Aborts every open stream and resolves once all have ended (or after `timeoutMs`). */
  async closeAll(timeoutMs: number): Promise<void> {
    this.closing = true;
    for (const controller of this.open.keys()) controller.abort(new Error('server closing'));
    if (this.open.size === 0) return;
    let resolveIdle!: () => void;
    const idle = new Promise<void>((resolve) => (resolveIdle = resolve));
    this.idle.add(resolveIdle);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.idle.delete(resolveIdle);
  }
}

/**
 * Bounds the log reads all streams run at once, so a crowd of followers waiting on the same appends queues
 * here rather than in the connection pool, where it would delay the appends (and every other query) behind it.
 * FIFO; a queued read of a stream that is aborted meanwhile leaves the queue at once.
 */
export class ReadGate {
  private active = 0;
  private readonly waiting: { start: () => void; onAbort: () => void }[] = [];
  private readonly unissued = new Map<string, Promise<unknown>>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('the stream read limit must be a positive integer');
  }

  /** Runs `read` when a slot is free; aborting `signal` (if given) leaves the queue at once. */
  async run<T>(signal: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const entry = {
          start: () => {
            signal?.removeEventListener('abort', entry.onAbort);
            resolve();
          },
          onAbort: () => {
            const index = this.waiting.indexOf(entry);
            if (index >= 0) this.waiting.splice(index, 1);
            reject(signal?.reason ?? new Error('aborted'));
          },
        };
        if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
        signal?.addEventListener('abort', entry.onAbort, { once: true });
        this.waiting.push(entry);
      });
    } else {
      this.active++;
    }
    try {
      return await read();
    } finally {
      const next = this.waiting.shift();
      if (next) next.start();
      else this.active--;
    }
  }

  /**
   * `run` for a read that several streams may want at once (the followers of one run, woken by the same append,
   * all reading from the same seq): callers asking for the same `key` before the read is issued share it. It is
   * issued on the next macrotask, after every caller woken in this one has joined. Sharing stays gap-free: a
   * caller joins only a read not issued yet, so the read's snapshot is taken after the caller last looked for
   * wake-ups. Aborting `signal` stops this caller's wait, not the read.
   */
  shared<T>(key: string, signal: AbortSignal, read: () => Promise<T>): Promise<T> {
    let pending = this.unissued.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.unissued.delete(key);
        return this.run(undefined, read);
      });
      this.unissued.set(key, pending);
    }
    return untilAborted(pending, signal);
  }

  /** Reads waiting for a slot (a metric). */
  queued(): number {
    return this.waiting.length;
  }
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What a stream generator needs from the server besides the runtime. */
export interface StreamContext {
  /** Registers the stream (on its first pull); its signal aborts on disconnect or server close. */
  open: () => { signal: AbortSignal; end(): void };
  shuttingDown: () => boolean;
  gate: ReadGate;
  logger: ApiLogger;
}

const terminalEventStatus: Partial<Record<RunEvent['type'], RunStatus>> = {
  'run.succeeded': 'succeeded',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
};

/** Run lifecycle event types: what the cross-run feed carries. */
export const lifecycleEventTypes: ReadonlySet<string> = new Set([
  'run.created',
  'run.started',
  'run.cancel_requested',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
  'run.retried',
]);

export interface StreamSettings {
  /** Events read from the log per query. */
  pageSize: number;
  /** Re-read this often even without a bus signal (a lost NOTIFY costs at most this long). */
  recheckMs: number;
  /** Reconnection delay advertised to EventSource clients (SSE `retry`). */
  retryMs: number;
}

/** What a client sees of an event: no idempotency key, and error stacks only when the server allows them. */
export function presentEvent(event: RunEvent, exposeStacks: boolean) {
  const { runId, seq, type, data, createdAt } = event;
  return { runId, seq, type, data: exposeStacks ? data : withoutStack(data), createdAt };
}

/** `data.error.stack` removed (failed runs and steps record the thrown error). */
export function withoutStack<T>(data: T): T {
  if (data && typeof data === 'object' && 'error' in data) {
    const { error } = data as { error: unknown };
    if (error && typeof error === 'object' && 'stack' in error) {
      const { stack: _stack, ...rest } = error as Record<string, unknown>;
      return { ...data, error: rest };
    }
  }
  return data;
}

/** How a stream ends when aborted: the `done` event is only for a terminal run, so this is an `error` event. */
function abortedError(shuttingDown: boolean) {
  return shuttingDown
    ? new ORPCError('SERVICE_UNAVAILABLE', { status: 503, message: 'the server is shutting down; reconnect' })
    : new ORPCError('CLIENT_CLOSED_REQUEST', { status: 499, message: 'the client went away' });
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
        const status = terminalEventStatus[last.type];
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
  throw abortedError(shuttingDown());
}

/** The feed position right after everything `readAll` can return now: only what commits from here on follows. */
export async function currentFeedCursor(runtime: Pick<Runtime, 'db'>): Promise<string> {
  const [row] = await runtime.db.execute<{ xmin: string }>(sql`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`);
  if (!row) throw new Error('no snapshot');
  // readAll returns transactions older than the reader's xmin; every transaction from xmin on is still to come.
  // Positions start at 1, so `<xmin>:0` sorts after every older transaction and before all of xmin's events.
  return `${row.xmin}:0`;
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
  throw abortedError(shuttingDown());
}
