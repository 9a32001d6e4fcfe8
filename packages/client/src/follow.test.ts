import { ORPCError } from '@orpc/client';
import { describe, expect, it } from 'vitest';
import { reconnectDelay, StreamEndedError, StreamGapError } from './follow-stream.js';
import { compareFeedCursors, followFeed, followRun, type OpenRunStream } from './follow.js';
import type { FeedEvent, RunEvent, StreamEnd } from './types.js';

const runId = '00000000-0000-4000-8000-000000000001';
const event = (seq: number) => ({ runId, seq, type: 'step.chunk', data: { seq } as unknown, createdAt: new Date(0) }) as RunEvent;
const events = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => event(from + i));
const refused = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

/** One scripted connection: what `open` does, then what the stream yields and how it ends. */
type Connection =
  | { reject: unknown }
  | { yield: RunEvent[]; end: { done: StreamEnd } | { throw: unknown } | 'close' | 'hang' };

/** A fake `runs.stream`: serves the scripted connections in order and records how each was opened. */
function fakeStream(script: Connection[]) {
  const calls: { fromSeq: number; lastEventId: string | undefined }[] = [];
  const returned: number[] = [];
  const open: OpenRunStream = async (input, options) => {
    calls.push({ fromSeq: input.fromSeq, lastEventId: options.lastEventId });
    const index = calls.length - 1;
    const connection = script[index];
    if (!connection) throw new Error(`unexpected connection #${index + 1}`);
    if ('reject' in connection) throw connection.reject;
    return (async function* () {
      try {
        yield* connection.yield;
        const end = connection.end;
        if (end === 'close') return undefined;
        if (end === 'hang') await new Promise<never>(() => {});
        else if ('throw' in end) throw end.throw;
        else return end.done;
      } finally {
        returned.push(index);
      }
    })();
  };
  return { open: { runs: { stream: open } }, calls, returned };
}

function recorder() {
  const seqs: number[] = [];
  const delays: number[] = [];
  const reconnects: { attempt: number; delayMs: number; lastSeq: number; error: unknown }[] = [];
  return {
    seqs,
    delays,
    reconnects,
    onEvent: (e: RunEvent) => void seqs.push(e.seq),
    onReconnect: (info: (typeof reconnects)[number]) => void reconnects.push(info),
    delay: async (ms: number, signal: AbortSignal) => {
      signal.throwIfAborted();
      delays.push(ms);
    },
  };
}

describe('followRun', () => {
  it('delivers the stream and resolves with the done event', async () => {
    const { open, calls } = fakeStream([{ yield: events(1, 5), end: { done: { status: 'succeeded', lastSeq: 5 } } }]);
    const r = recorder();
    await expect(followRun(open, runId, r)).resolves.toEqual({ status: 'succeeded', lastSeq: 5 });
    expect(r.seqs).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toEqual([{ fromSeq: 1, lastEventId: undefined }]);
    expect(r.reconnects).toEqual([]);
  });

  it('reconnects after a mid-stream error with Last-Event-ID = the last seq delivered, dropping replays', async () => {
    const { open, calls } = fakeStream([
      { yield: events(1, 3), end: { throw: new TypeError('terminated') } },
      // A server that ignores Last-Event-ID and replays from earlier: the follower drops what it already has.
      { yield: events(2, 6), end: { throw: new ORPCError('INTERNAL_SERVER_ERROR') } },
      { yield: events(6, 8), end: { done: { status: 'failed', lastSeq: 8 } } },
    ]);
    const r = recorder();
    await expect(followRun(open, runId, r)).resolves.toEqual({ status: 'failed', lastSeq: 8 });
    expect(r.seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(calls).toEqual([
      { fromSeq: 1, lastEventId: undefined },
      { fromSeq: 4, lastEventId: '3' },
      { fromSeq: 7, lastEventId: '6' },
    ]);
    expect(r.reconnects.map((x) => [x.attempt, x.lastSeq])).toEqual([
      [1, 3],
      [1, 6],
    ]);
  });

  it('retries a refused connection forever with capped exponential backoff, reset by a delivered event', async () => {
    const down = Array.from({ length: 9 }, () => ({ reject: refused() }));
    const { open, calls } = fakeStream([
      { yield: events(1, 2), end: 'close' },
      ...down,
      { yield: events(3, 3), end: { throw: refused() } },
      { reject: refused() },
      { yield: [], end: { done: { status: 'succeeded', lastSeq: 3 } } },
    ]);
    const r = recorder();
    await expect(followRun(open, runId, r)).resolves.toEqual({ status: 'succeeded', lastSeq: 3 });
    expect(r.seqs).toEqual([1, 2, 3]);
    expect(r.delays).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 100, 200]);
    expect(r.reconnects[0]!.error).toBeInstanceOf(StreamEndedError);
    expect(calls.slice(1, 11).every((c) => c.lastEventId === '2' && c.fromSeq === 3)).toBe(true);
    expect(calls.at(-1)).toEqual({ fromSeq: 4, lastEventId: '3' });
  });

  it('retries a 503 outage on open and mid-stream, waiting at least its Retry-After', async () => {
    const outage = () => new ORPCError('DEPENDENCY_UNAVAILABLE', { status: 503, data: { retryAfterSeconds: 1 } });
    const { open, calls } = fakeStream([
      { reject: outage() },
      { yield: events(1, 2), end: { throw: outage() } },
      { reject: new ORPCError('SERVICE_UNAVAILABLE', { status: 503 }) },
      { yield: [], end: { done: { status: 'succeeded', lastSeq: 2 } } },
    ]);
    const r = recorder();
    await expect(followRun(open, runId, r)).resolves.toEqual({ status: 'succeeded', lastSeq: 2 });
    expect(r.seqs).toEqual([1, 2]);
    expect(r.delays).toEqual([1000, 1000, 200]);
    expect(calls.at(-1)).toEqual({ fromSeq: 3, lastEventId: '2' });
  });

  it.each(['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'BAD_REQUEST'])('treats %s as final, on open or mid-stream', async (code) => {
    const atOpen = fakeStream([{ reject: new ORPCError(code) }]);
    await expect(followRun(atOpen.open, runId, recorder())).rejects.toMatchObject({ code });
    expect(atOpen.calls).toHaveLength(1);

    const midStream = fakeStream([{ yield: events(1, 2), end: { throw: new ORPCError(code) } }]);
    const r = recorder();
    await expect(followRun(midStream.open, runId, r)).rejects.toMatchObject({ code });
    expect(r.seqs).toEqual([1, 2]);
    expect(midStream.calls).toHaveLength(1);
  });

  it('reconnects when the stream skips a seq, and when done claims more than was delivered', async () => {
    const { open, calls } = fakeStream([
      { yield: [...events(1, 2), event(4)], end: 'hang' },
      { yield: events(3, 4), end: { done: { status: 'succeeded', lastSeq: 6 } } },
      { yield: events(5, 6), end: { done: { status: 'succeeded', lastSeq: 6 } } },
    ]);
    const r = recorder();
    await expect(followRun(open, runId, r)).resolves.toEqual({ status: 'succeeded', lastSeq: 6 });
    expect(r.seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.reconnects[0]!.error).toBeInstanceOf(StreamGapError);
    expect(calls.map((c) => c.lastEventId)).toEqual([undefined, '2', '4']);
  });

  it('starts at fromSeq without a Last-Event-ID, and drops anything before it', async () => {
    const { open, calls } = fakeStream([
      { yield: events(3, 5), end: { throw: refused() } },
      { yield: [], end: { done: { status: 'cancelled', lastSeq: 5 } } },
    ]);
    const r = recorder();
    await expect(followRun(open, runId, { ...r, fromSeq: 4 })).resolves.toEqual({ status: 'cancelled', lastSeq: 5 });
    expect(r.seqs).toEqual([4, 5]);
    expect(calls).toEqual([
      { fromSeq: 4, lastEventId: undefined },
      { fromSeq: 6, lastEventId: '5' },
    ]);
  });

  it('resolves at once when the run ended before fromSeq', async () => {
    const { open } = fakeStream([{ yield: [], end: { done: { status: 'succeeded', lastSeq: 3 } } }]);
    await expect(followRun(open, runId, { ...recorder(), fromSeq: 10 })).resolves.toEqual({ status: 'succeeded', lastSeq: 9 });
  });

  it('rejects with the abort reason while a connection hangs, and closes it', async () => {
    const { open, returned } = fakeStream([{ yield: events(1, 1), end: 'hang' }]);
    const controller = new AbortController();
    const reason = new Error('stop');
    const r = recorder();
    const following = followRun(open, runId, {
      ...r,
      signal: controller.signal,
      onEvent: (e) => {
        r.onEvent(e);
        queueMicrotask(() => controller.abort(reason));
      },
    });
    await expect(following).rejects.toBe(reason);
    expect(r.seqs).toEqual([1]);
    expect(returned).toEqual([]); // the generator is stuck in its await; return() was requested, not forced
  });

  it('rejects with the abort reason while waiting to reconnect', async () => {
    const { open, calls } = fakeStream([{ reject: refused() }, { reject: refused() }]);
    const controller = new AbortController();
    const following = followRun(open, runId, {
      onEvent: () => {},
      signal: controller.signal,
      delay: (_ms, signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
          controller.abort(new Error('bye'));
        }),
    });
    await expect(following).rejects.toThrow('bye');
    expect(calls).toHaveLength(1);
  });

  it('propagates an error thrown by onEvent without reconnecting', async () => {
    const { open, calls, returned } = fakeStream([{ yield: events(1, 3), end: { done: { status: 'succeeded', lastSeq: 3 } } }]);
    const boom = new Error('callback failed');
    await expect(
      followRun(open, runId, {
        onEvent: (e) => {
          if (e.seq === 2) throw boom;
        },
      }),
    ).rejects.toBe(boom);
    expect(calls).toHaveLength(1);
    await expect.poll(() => returned).toEqual([0]); // the connection was closed

  });

  it('awaits an async onEvent before taking the next event', async () => {
    const { open } = fakeStream([{ yield: events(1, 3), end: { done: { status: 'succeeded', lastSeq: 3 } } }]);
    const log: string[] = [];
    await followRun(open, runId, {
      onEvent: async (e) => {
        log.push(`start ${e.seq}`);
        await Promise.resolve();
        log.push(`end ${e.seq}`);
      },
    });
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('uses the client’s runs.stream with the run id and resume options', async () => {
    const seen: unknown[] = [];
    const client = {
      runs: {
        stream: async (input: unknown, options: { lastEventId?: string }) => {
          seen.push([input, options.lastEventId]);
          return (async function* () {
            yield event(1);
            return { status: 'succeeded' as const, lastSeq: 1 };
          })();
        },
      },
    };
    await followRun(client, runId, { onEvent: () => {} });
    expect(seen).toEqual([[{ id: runId, fromSeq: 1 }, undefined]]);
  });
});

describe('followFeed', () => {
  const feedEvent = (cursor: string): FeedEvent => ({ ...event(1), cursor });

  it('resumes after the last cursor delivered and drops replays', async () => {
    const calls: { after?: string; lastEventId?: string }[] = [];
    const script = [
      ['5:1', '5:2', '7:3'],
      ['5:2', '7:3', '7:4', '10:5'],
    ];
    const controller = new AbortController();
    const cursors: string[] = [];
    const following = followFeed(
      { feed: { stream: async (input, options) => {
        calls.push({ ...input, ...(options.lastEventId ? { lastEventId: options.lastEventId } : {}) });
        const batch = script[calls.length - 1];
        if (!batch) return new Promise<never>(() => {});
        return (async function* () {
          yield* batch.map(feedEvent);
          throw refused();
        })();
      } } },
      {
        after: '5:1',
        onEvent: (e) => {
          cursors.push(e.cursor);
          if (e.cursor === '10:5') controller.abort(new Error('enough'));
        },
        signal: controller.signal,
        delay: async () => {},
      },
    );
    await expect(following).rejects.toThrow('enough');
    expect(cursors).toEqual(['5:2', '7:3', '7:4', '10:5']);
    expect(calls).toEqual([
      { after: '5:1', lastEventId: '5:1' },
      { after: '7:3', lastEventId: '7:3' },
    ]);
  });

  it('orders cursors numerically', () => {
    expect(compareFeedCursors('10:1', '9:5')).toBe(1);
    expect(compareFeedCursors('9:5', '9:10')).toBe(-1);
    expect(compareFeedCursors('9:5', '9:5')).toBe(0);
  });
});

describe('reconnectDelay', () => {
  it('doubles from 100 ms and caps at 5 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => reconnectDelay(n))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });
});
