import { followStream, type BackoffOptions, type ReconnectInfo } from './follow-stream.js';
import type { FeedEvent, RunEvent, RunStatus, StreamEnd } from './types.js';

/** Opens one `runs.stream` connection; `lastEventId` is the last seq already delivered (absent on the first). */
export type OpenRunStream = (
  input: { id: string; fromSeq: number },
  options: { lastEventId?: string; signal: AbortSignal },
) => Promise<AsyncIterator<RunEvent, StreamEnd | undefined>>;

export interface FollowRunOptions {
  /** First seq to deliver (default 1). */
  fromSeq?: number;
  /** Called once per seq, in order; a returned promise is awaited before the next event. Throwing ends the follow. */
  onEvent(event: RunEvent): void | Promise<void>;
  /** Aborting ends the follow: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called before each reconnect wait, with what ended the previous connection. */
  onReconnect?(info: { attempt: number; delayMs: number; error: unknown; lastSeq: number }): void;
  /** Default 100 ms doubling up to 5 s. */
  backoff?: BackoffOptions;
  /** Waits between reconnects (injectable for tests). */
  delay?(ms: number, signal: AbortSignal): Promise<void>;
}

export interface FollowRunResult {
  /** The run's terminal status. */
  status: RunStatus;
  /** The run's last seq. */
  lastSeq: number;
}

/**
 * Follows a run's events until it is terminal. Consumes `runs.stream`; after any disconnect or transient error
 * (network failure, server restart, 5xx) it reconnects with `Last-Event-ID` = the last seq delivered, backing off
 * exponentially (100 ms → 5 s), forever, until the stream's `done` event or the caller aborts. Every seq is
 * delivered exactly once and in order. NOT_FOUND, UNAUTHORIZED, FORBIDDEN and BAD_REQUEST are final: they reject.
 */
export function followRun(
  client: { runs: { stream: OpenRunStream } },
  runId: string,
  options: FollowRunOptions,
): Promise<FollowRunResult> {
  const open: OpenRunStream = (input, callOptions) => client.runs.stream(input, callOptions);
  const fromSeq = Math.max(1, options.fromSeq ?? 1);
  return followStream<RunEvent, StreamEnd, number, FollowRunResult>({
    start: fromSeq - 1,
    open: (lastSeq = fromSeq - 1, signal) =>
      open(
        { id: runId, fromSeq: lastSeq + 1 },
        lastSeq >= fromSeq ? { lastEventId: String(lastSeq), signal } : { signal },
      ),
    positionOf: (event) => event.seq,
    classify: (event, lastSeq = fromSeq - 1) =>
      event.seq <= lastSeq ? 'duplicate' : event.seq === lastSeq + 1 ? 'deliver' : 'gap',
    // A `done` whose lastSeq is beyond what was delivered means events are missing: reconnect for them.
    finish: (end, lastSeq = fromSeq - 1) =>
      end && end.lastSeq <= lastSeq ? { status: end.status, lastSeq: Math.max(end.lastSeq, lastSeq) } : undefined,
    onEvent: options.onEvent,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.delay ? { delay: options.delay } : {}),
    ...(options.onReconnect
      ? {
          onReconnect: ({ position, ...info }: ReconnectInfo<number>) =>
            options.onReconnect?.({ ...info, lastSeq: position ?? fromSeq - 1 }),
        }
      : {}),
  });
}

/** Opens one `feed.stream` connection; `lastEventId` is the cursor of the last event delivered. */
export type OpenFeedStream = (
  input: { after?: string },
  options: { lastEventId?: string; signal: AbortSignal },
) => Promise<AsyncIterator<FeedEvent, unknown>>;

export interface FollowFeedOptions {
  /** Resume after this feed cursor (default: only what happens from now on). */
  after?: string;
  onEvent(event: FeedEvent): void | Promise<void>;
  /** The feed never ends by itself: aborting is how a follow stops (the promise rejects with the reason). */
  signal?: AbortSignal;
  onReconnect?(info: { attempt: number; delayMs: number; error: unknown; cursor: string | undefined }): void;
  backoff?: BackoffOptions;
  delay?(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * Follows the cross-run feed until aborted, reconnecting like `followRun` with `Last-Event-ID` = the cursor of
 * the last event delivered. Events whose cursor is not after the last one delivered are dropped.
 */
export function followFeed(
  client: { feed: { stream: OpenFeedStream } },
  options: FollowFeedOptions,
): Promise<never> {
  const open: OpenFeedStream = (input, callOptions) => client.feed.stream(input, callOptions);
  return followStream<FeedEvent, unknown, string, never>({
    ...(options.after !== undefined ? { start: options.after } : {}),
    open: (cursor, signal) =>
      open(cursor === undefined ? {} : { after: cursor }, cursor === undefined ? { signal } : { lastEventId: cursor, signal }),
    positionOf: (event) => event.cursor,
    classify: (event, last) => (last === undefined || compareFeedCursors(event.cursor, last) > 0 ? 'deliver' : 'duplicate'),
    finish: () => undefined,
    onEvent: options.onEvent,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.delay ? { delay: options.delay } : {}),
    ...(options.onReconnect
      ? {
          onReconnect: ({ position, ...info }: ReconnectInfo<string>) => options.onReconnect?.({ ...info, cursor: position }),
        }
      : {}),
  });
}

/**
 * Orders feed cursors (`<transactionId>:<position>`, compared numerically). A cursor in another format cannot be
 * ordered, so it counts as "after" (delivered) rather than risk dropping an event.
 */
export function compareFeedCursors(a: string, b: string): number {
  const pa = parseCursor(a);
  const pb = parseCursor(b);
  if (!pa || !pb) return a === b ? 0 : 1;
  if (pa[0] !== pb[0]) return pa[0] < pb[0] ? -1 : 1;
  if (pa[1] !== pb[1]) return pa[1] < pb[1] ? -1 : 1;
  return 0;
}

function parseCursor(cursor: string): [bigint, bigint] | undefined {
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(cursor);
  return match ? [BigInt(match[1]!), BigInt(match[2]!)] : undefined;
}
