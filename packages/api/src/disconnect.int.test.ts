import { isDefinedError } from '@orpc/client';
import { request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, until, type TestApi } from './testing/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapMiB(): number {
  gc();
  gc();
  return Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10;
}

type Mode = 'after-first-event' | 'after-headers' | 'before-response';

/**
 * Cycles per round. The open-stream and listener counts must return exactly to the baseline, so a single leaked
 * stream fails; the cycles only have to cover every mode on both streams many times over, and leave the heap check
 * (a gross leak) something to see.
 */
const CYCLES = 200;

/** Far beyond any test's timeout. */
const NO_RECHECK_MS = 3_600_000;

/**
 * One connect/disconnect cycle on a stream URL, leaving at a chosen point: once `firstEvent` matched what arrived
 * (the stream is running), as soon as the response headers arrived, or right after sending the request.
 */
function cycle(url: string, mode: Mode, firstEvent: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false });
    req.on('close', () => resolve());
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET' && error.message !== 'socket hang up') reject(error);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      if (mode === 'after-headers') return req.destroy();
      let seen = '';
      res.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (firstEvent.test(seen)) req.destroy();
      });
    });
    req.end();
    if (mode === 'before-response') setImmediate(() => req.destroy());
  });
}

describe('releasing streams', () => {
  let t: TestApi;
  beforeAll(async () => {
    // No worker: the runs stay queued, so their streams never end on their own. And no safety re-read within the
    // test's timeout: a stream the disconnect did not wake would stay open, so every release below is the abort's.
    t = await startTestApi({
      backend: 'postgres',
      worker: false,
      api: { runStream: { recheckMs: NO_RECHECK_MS }, feedStream: { recheckMs: NO_RECHECK_MS } },
    });
  });
  afterAll(async () => {
    await t?.close();
    expect(t?.faults ?? []).toEqual([]);
  });

  it(`2 x ${CYCLES} connect/disconnect cycles leave no listener, no open stream and no growing heap`, async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'never-runs', input: null });
    const runUrl = `${t.base}/api/runs/${run.id}/stream`;
    const feedUrl = `${t.base}/api/feed/stream?after=0:0`;
    const baseline = { listeners: t.runtime.bus.listenerCount(), streams: t.api.openStreams() };
    expect(baseline.streams).toBe(0);

    // Warm up (JIT, pools, lazily built handlers), then measure.
    const runEvent = /^id: 1$/m;
    // The feed's first bytes are its opening comment: the stream is pulled (and subscribed) right after it.
    const feedOpened = /^: /m;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? cycle(runUrl, 'after-first-event', runEvent) : cycle(feedUrl, 'after-first-event', feedOpened))),
    );
    await until(() => t.api.openStreams() === 0, 'the warm-up streams to close');
    const heapBefore = heapMiB();

    const modes: Mode[] = ['after-first-event', 'after-first-event', 'after-headers', 'before-response'];
    const cycles = CYCLES;
    const batch = 25;
    const heaps = [heapBefore];
    // Two rounds: a leak grows the heap in the second as much as in the first.
    for (let round = 0; round < 2; round++) {
      for (let done = 0; done < cycles; done += batch) {
        await Promise.all(
          Array.from({ length: batch }, (_, i) => {
            const n = done + i;
            // Every fifth cycle is on the feed, the rest on the run.
            const mode = modes[n % modes.length]!;
            return n % 5 === 0 ? cycle(feedUrl, mode, feedOpened) : cycle(runUrl, mode, runEvent);
          }),
        );
      }
      await until(
        () => t.api.openStreams() === baseline.streams && t.runtime.bus.listenerCount() === baseline.listeners,
        'every stream to be released',
      );
      expect(t.api.openStreams()).toBe(baseline.streams);
      expect(t.runtime.bus.listenerCount()).toBe(baseline.listeners);
      t.requests.length = 0; // the test server's own request log
      heaps.push(heapMiB());
    }
    console.log(
      `[disconnect] 2 x ${cycles} cycles: open streams ${t.api.openStreams()} (baseline ${baseline.streams}), ` +
        `bus listeners ${t.runtime.bus.listenerCount()} (baseline ${baseline.listeners}), ` +
        `heap after gc ${heaps.join(' -> ')} MiB`,
    );
    expect(t.api.openStreams()).toBe(baseline.streams);
    expect(t.runtime.bus.listenerCount()).toBe(baseline.listeners);
    // Reported above; only a gross leak fails here (the counts above catch a single leaked stream).
    expect(heaps[2]! - heaps[0]!).toBeLessThan(64);
  });

  it('a stream waiting for events is released by the disconnect itself, not by a later re-read', async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'never-runs', input: null });
    const controller = new AbortController();
    const iterator = await t.client.runs.stream({ id: run.id }, { signal: controller.signal });
    expect((await iterator.next()).value).toMatchObject({ seq: 1, type: 'run.created' });
    await until(() => t.api.openStreams() === 1, 'the stream to be open');
    const listeners = t.runtime.bus.listenerCount();
    controller.abort();
    // Nothing is appended and the safety re-read is an hour away: only the abort can wake the waiting stream.
    await until(() => t.api.openStreams() === 0, 'the stream to be released');
    expect(t.runtime.bus.listenerCount()).toBe(listeners - 1);
  });

  it('close() ends open streams with SERVICE_UNAVAILABLE; then the API and readiness answer 503, liveness 200', async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'never-runs', input: null });
    const iterators = await Promise.all(Array.from({ length: 5 }, () => t.client.runs.stream({ id: run.id })));
    for (const iterator of iterators) expect((await iterator.next()).value).toMatchObject({ seq: 1 });
    const feed = await t.client.feed.stream({});
    const settle = (pending: Promise<unknown>) =>
      pending.then(
        () => null,
        (error: unknown) => error,
      );
    const feedError = settle(feed.next());
    await until(() => t.api.openStreams() === 6, 'six open streams');

    await t.api.close();
    expect(t.api.openStreams()).toBe(0);
    for (const pending of [...iterators.map((iterator) => settle(iterator.next())), feedError]) {
      const error = await pending;
      expect(isDefinedError(error)).toBe(false);
      expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    }
    const after = await fetch(`${t.base}/api/runs`);
    expect(after.status).toBe(503);
    expect((await fetch(`${t.base}/health/ready`)).status).toBe(503);
    expect((await fetch(`${t.base}/health/live`)).status).toBe(200);
  });
});
