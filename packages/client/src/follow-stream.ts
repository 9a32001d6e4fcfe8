import { ORPCError } from '@orpc/client';
import { backoffCeiling } from '@runstream/domain';

/** Capped exponential backoff between reconnect attempts: `initialMs · factor^(attempt-1)`, at most `maxMs`. */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
}

export const defaultBackoff: Required<BackoffOptions> = { initialMs: 100, maxMs: 5_000, factor: 2 };

/** The delay before reconnect attempt `attempt` (1-based): the capped exponential schedule, without jitter. */
export function reconnectDelay(attempt: number, { initialMs, maxMs, factor }: Required<BackoffOptions> = defaultBackoff): number {
  return backoffCeiling(attempt, { baseMs: initialMs, maxMs, factor });
}

/**
 * Error codes that no reconnect can fix: the run does not exist, the token is missing or does not grant access,
 * or the request itself is wrong. Everything else (network errors, a server restarting, 5xx) is retried.
 */
export const finalErrorCodes: ReadonlySet<string> = new Set(['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'BAD_REQUEST']);

export function isFinalError(error: unknown): boolean {
  return error instanceof ORPCError && finalErrorCodes.has(error.code);
}

/**
 * A 503 (a dependency outage, `DEPENDENCY_UNAVAILABLE`, or a server shutting down): the request was fine, try it
 * again later. Returns how long the server asked to wait (ms), 0 when it did not say; undefined for other errors.
 */
export function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof ORPCError) || error.status !== 503) return undefined;
  const seconds = (error.data as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : 0;
}

/** Why a follower is about to reconnect, passed to `onReconnect` before it waits. */
export interface ReconnectInfo<P> {
  /** 1 for the first reconnect after a connection delivered something, then 2, 3, … while attempts keep failing. */
  attempt: number;
  /** How long the follower waits before this attempt. */
  delayMs: number;
  /** What ended the previous connection (an error, or a `StreamEndedError` when it closed without finishing). */
  error: unknown;
  /** The last position delivered so far (what the next connection resumes after). */
  position: P | undefined;
}

/** A stream closed before its terminal `done` event (e.g. a server shutting down gracefully). */
export class StreamEndedError extends Error {
  override readonly name = 'StreamEndedError';
}

/** The stream skipped a position it should have sent; the follower reconnects to fetch it. */
export class StreamGapError extends Error {
  override readonly name = 'StreamGapError';
}

export type Verdict = 'deliver' | 'duplicate' | 'gap';

export interface FollowStreamOptions<T, R, P, Result> {
  /** Opens one connection, resuming after `position` (undefined: from the start the caller chose). */
  open(position: P | undefined, signal: AbortSignal): Promise<AsyncIterator<T, R | undefined>>;
  /** The position an event marks. */
  positionOf(event: T): P;
  /** Whether `event` is the next one to deliver after `last`, a duplicate to drop, or past a gap. */
  classify(event: T, last: P | undefined): Verdict;
  /** Turns the stream's return value into the follower's result, or undefined to keep following (reconnect). */
  finish(returned: R | undefined, last: P | undefined): Result | undefined;
  onEvent(event: T): void | Promise<void>;
  /** Where to start: the position before the first event wanted (resume after it). */
  start?: P;
  signal?: AbortSignal;
  onReconnect?(info: ReconnectInfo<P>): void;
  backoff?: BackoffOptions;
  /** Waits `ms`, rejecting when `signal` aborts; injectable so tests run without timers. */
  delay?(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * Follows a resumable stream until it finishes: each event is delivered once and in order, and any disconnect
 * or transient error reconnects after the last delivered position, with capped exponential backoff, forever.
 * Final errors (`isFinalError`), errors thrown by `onEvent` and the caller's abort end it (rejecting).
 */
export async function followStream<T, R, P, Result>(options: FollowStreamOptions<T, R, P, Result>): Promise<Result> {
  const signal = options.signal ?? new AbortController().signal;
  const backoff = { ...defaultBackoff, ...options.backoff };
  const delay = options.delay ?? abortableDelay;
  let position = options.start;
  let failures = 0;

  for (;;) {
    signal.throwIfAborted();
    const connection = new AbortController();
    const abortConnection = () => connection.abort(signal.reason);
    signal.addEventListener('abort', abortConnection, { once: true });
    let iterator: AsyncIterator<T, R | undefined> | undefined;
    let finished = false;
    let cause: unknown;
    try {
      iterator = await untilAborted(options.open(position, connection.signal), signal);
      for (;;) {
        const next = await untilAborted(iterator.next(), signal);
        if (next.done) {
          finished = true;
          const result = options.finish(next.value, position);
          if (result !== undefined) return result;
          cause = new StreamEndedError('the stream closed before the end of the run');
          break;
        }
        const event = next.value;
        const verdict = options.classify(event, position);
        if (verdict === 'duplicate') continue;
        if (verdict === 'gap') {
          cause = new StreamGapError(`the stream skipped ahead to ${String(options.positionOf(event))} after ${String(position)}`);
          break;
        }
        failures = 0;
        position = options.positionOf(event);
        try {
          await options.onEvent(event);
        } catch (error) {
          throw new CallbackError(error);
        }
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof CallbackError) throw error.cause;
      if (isFinalError(error)) throw error;
      cause = error;
    } finally {
      signal.removeEventListener('abort', abortConnection);
      if (iterator && !finished) void iterator.return?.().catch(() => {});
      connection.abort();
    }
    failures += 1;
    // An outage answered with Retry-After: wait at least that long.
    const delayMs = Math.max(reconnectDelay(failures, backoff), retryAfterMs(cause) ?? 0);
    options.onReconnect?.({ attempt: failures, delayMs, error: cause, position });
    await delay(delayMs, signal);
  }
}

/** Carries an error thrown by the caller's `onEvent`, so it propagates instead of triggering a reconnect. */
class CallbackError {
  constructor(readonly cause: unknown) {}
}

function untilAborted<V>(promise: Promise<V>, signal: AbortSignal): Promise<V> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<V>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
