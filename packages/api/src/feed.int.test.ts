import { getEventMeta } from '@orpc/client';
import { waitForStatus } from '@runstream/testkit';
import { snapshotXmin } from '@runstream/store/testing';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/index.js';

interface FeedMessage {
  runId: string;
  seq: number;
  type: string;
  cursor: string;
  id: string;
}

/**
 * An EventSource on the feed that collects messages; `until(predicate)` resolves once the collected messages
 * satisfy it. `opened` resolves when the server answered (the start of the feed is fixed by then).
 */
function openFeed(url: string) {
  const es = new EventSource(url);
  const messages: FeedMessage[] = [];
  const waiters = new Set<() => void>();
  const opened = new Promise<void>((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (event) => {
      if (es.readyState === es.CLOSED) reject(new Error(`feed failed: ${(event as { message?: string }).message}`));
    };
  });
  es.onmessage = (event) => {
    messages.push({ ...JSON.parse(event.data), id: event.lastEventId });
    for (const wake of waiters) wake();
  };
  return {
    es,
    messages,
    opened,
    async until(predicate: (messages: FeedMessage[]) => boolean, timeoutMs = 55_000): Promise<FeedMessage[]> {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(messages)) {
        if (Date.now() > deadline) throw new Error(`feed: timed out; got ${JSON.stringify(messages.map((m) => m.type))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000);
          waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiters.clear();
      }
      return messages;
    },
  };
}

const ofRun = (messages: FeedMessage[], runId: string) => messages.filter((m) => m.runId === runId);

describe('feed stream', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi({ backend: 'postgres' });
  });
  afterAll(async () => {
    await t?.close();
    expect(t?.faults ?? []).toEqual([]);
  });

  it('without `after` starts at the current end, then sees run.created and every status change of new runs', async () => {
    const { run: before } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 0 } });
    await waitForStatus(t.runtime, before.id);

    // The feed starts at the oldest transaction in flight when it opens (cluster-wide): nothing older is sent.
    const xminBefore = await snapshotXmin(t.runtime.store);
    const feed = openFeed(`${t.base}/api/feed/stream`);
    try {
      await feed.opened;
      const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text: 'a b c', intervalMs: 1 } });
      const { run: cancelled } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 10_000, intervalMs: 50 } });
      await waitForStatus(t.runtime, cancelled.id, 'running');
      await t.engine.cancelRun(cancelled.id);

      const messages = await feed.until(
        (m) => ofRun(m, run.id).some((e) => e.type === 'run.succeeded') && ofRun(m, cancelled.id).some((e) => e.type === 'run.cancelled'),
      );
      // So the earlier run's events come only if a transaction older than them was still open somewhere in the
      // cluster (other test files run alongside): `readAll` withholds them until it ends, so they count as new.
      expect(messages.every((m) => BigInt(m.cursor.split(':')[0]!) >= xminBefore)).toBe(true);
      expect(ofRun(messages, run.id).map((m) => [m.type, m.seq])).toEqual([
        ['run.created', 1],
        ['run.started', 2],
        ['run.succeeded', (await t.runtime.runs.get(run.id))!.lastSeq],
      ]);
      expect(ofRun(messages, cancelled.id).map((m) => m.type)).toEqual([
        'run.created',
        'run.started',
        'run.cancel_requested',
        'run.cancelled',
      ]);
      // Lifecycle events only; each SSE id is the event's feed cursor.
      expect(messages.every((m) => m.type.startsWith('run.') && m.type !== 'run.output')).toBe(true);
      expect(messages.every((m) => m.id === m.cursor)).toBe(true);
    } finally {
      feed.es.close();
    }
  });

  it('resumes after a cursor: Last-Event-ID (typed client) and ?after= (EventSource)', async () => {
    const feed = openFeed(`${t.base}/api/feed/stream`);
    let runId = '';
    let all: FeedMessage[] = [];
    try {
      await feed.opened;
      runId = (await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } })).run.id;
      all = ofRun(await feed.until((m) => ofRun(m, runId).some((e) => e.type === 'run.succeeded')), runId);
    } finally {
      feed.es.close();
    }
    expect(all.map((m) => m.type)).toEqual(['run.created', 'run.started', 'run.succeeded']);
    const created = all[0]!;

    // The typed client, resuming right after run.created with Last-Event-ID.
    const iterator = await t.client.feed.stream({}, { lastEventId: created.cursor });
    const resumed: { type: string; id: string | undefined }[] = [];
    while (resumed.length < 2) {
      const next = await iterator.next();
      if (next.done) throw new Error('the feed ended');
      if (next.value.runId === runId) resumed.push({ type: next.value.type, id: getEventMeta(next.value)?.id });
    }
    await iterator.return(undefined);
    expect(resumed).toEqual([
      { type: 'run.started', id: all[1]!.cursor },
      { type: 'run.succeeded', id: all[2]!.cursor },
    ]);

    // EventSource with ?after=: the same events again, in the same order.
    const again = openFeed(`${t.base}/api/feed/stream?after=${encodeURIComponent(created.cursor)}`);
    try {
      const messages = await again.until((m) => ofRun(m, runId).length >= 2);
      expect(ofRun(messages, runId).map((m) => m.id)).toEqual([all[1]!.cursor, all[2]!.cursor]);
    } finally {
      again.es.close();
    }
  });
});
