import type { ApiLogger } from './errors.js';

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

export interface StreamSettings {
  /** Events read from the log per query. */
  pageSize: number;
  /** Re-read this often even without a bus signal (a lost NOTIFY costs at most this long). */
  recheckMs: number;
  /** Reconnection delay advertised to EventSource clients (SSE `retry`). */
  retryMs: number;
}
