import { getEventMeta } from '@orpc/client';
import { RunEventBus, type BusSignal } from '@runstream/notify';
import { testBackends, waitForSeq, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEventStream } from './run-stream.js';
import { ReadGate, StreamTracker } from './stream-control.js';
import { followWithEventSource, range, startTestApi, type ApiClient, type TestApi } from './testing/index.js';

const text = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');

/** Reads a typed-client run stream to its end: every event's seq and SSE id, and the `done` value. */
async function followWithClient(client: ApiClient, id: string, options: { fromSeq?: number; lastEventId?: string } = {}) {
  const iterator = await client.runs.stream(
    { id, ...(options.fromSeq === undefined ? {} : { fromSeq: options.fromSeq }) },
    options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId },
  );
  const seqs: number[] = [];
  const ids: string[] = [];
  for (;;) {
    const result = await iterator.next();
    if (result.done) return { seqs, ids, done: result.value };
    seqs.push(result.value.seq);
    ids.push(getEventMeta(result.value)?.id ?? '');
  }
}

describe.each(testBackends)('run stream on %s', (backend) => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi({ backend });
  });
  afterAll(async () => {
    await t?.close();
    expect(t?.faults ?? []).toEqual([]);
  });

  it('EventSource follows demo.tokens from fromSeq=1: exactly seqs 1..N, then done', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text, intervalMs: 5 } });
    const result = await followWithEventSource(`${t.base}/api/runs/${run.id}/stream?fromSeq=1`);
    const finished = await t.runtime.runs.get(run.id);
    expect(finished?.status).toBe('succeeded');
    expect(result.done).toEqual({ status: 'succeeded', lastSeq: finished?.lastSeq });
    expect(result.ids).toEqual(range(1, finished!.lastSeq).map(String));
    expect(result.messages.map((m) => m.seq)).toEqual(range(1, finished!.lastSeq));
    expect(result.messages.filter((m) => m.type === 'step.chunk')).toHaveLength(40);
    expect(result.messages.at(-1)).toMatchObject({ type: 'run.succeeded', runId: run.id });
  });

  it('the typed oRPC client follows it too, from a later seq', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text, intervalMs: 5 } });
    const all = await followWithClient(t.client, run.id);
    const lastSeq = (await t.runtime.runs.get(run.id))!.lastSeq;
    expect(all.seqs).toEqual(range(1, lastSeq));
    expect(all.ids).toEqual(range(1, lastSeq).map(String));
    expect(all.done).toEqual({ status: 'succeeded', lastSeq });

    const tail = await followWithClient(t.client, run.id, { fromSeq: 10 });
    expect(tail.seqs).toEqual(range(10, lastSeq));
    // Past the end of a finished run: nothing, then done.
    expect(await followWithClient(t.client, run.id, { fromSeq: lastSeq + 5 })).toEqual({
      seqs: [],
      ids: [],
      done: { status: 'succeeded', lastSeq },
    });
  });

  it('EventSource resumes with Last-Event-ID after the connection drops: the union is exactly 1..N', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text, intervalMs: 10 } });
    let dropped = false;
    const requestsBefore = t.requests.length;
    const result = await followWithEventSource(`${t.base}/api/runs/${run.id}/stream`, {
      onMessage(event) {
        // Mid-stream, while the run is still writing: the server side drops every connection.
        if (!dropped && Number(event.lastEventId) === 8) {
          dropped = true;
          t.dropConnections();
        }
      },
    });
    const lastSeq = (await t.runtime.runs.get(run.id))!.lastSeq;
    expect(dropped).toBe(true);
    expect(result.ids).toEqual(range(1, lastSeq).map(String));
    const streamRequests = t.requests.slice(requestsBefore).filter((r) => r.url.includes(`/runs/${run.id}/stream`));
    expect(streamRequests.length).toBeGreaterThanOrEqual(2);
    expect(streamRequests[0]?.headers['last-event-id']).toBeUndefined();
    expect(Number(streamRequests[1]?.headers['last-event-id'])).toBeGreaterThanOrEqual(8);
  });

  it('the oRPC client resumes explicitly with lastEventId: no duplicates, no gaps', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text, intervalMs: 10 } });
    const first = await t.client.runs.stream({ id: run.id });
    const seen: number[] = [];
    for (;;) {
      const result = await first.next();
      if (result.done) throw new Error('ended before the disconnect');
      seen.push(result.value.seq);
      if (seen.length === 6) break;
    }
    await first.return(undefined as never); // disconnect
    const rest = await followWithClient(t.client, run.id, { fromSeq: 1, lastEventId: String(seen.at(-1)) });
    const lastSeq = (await t.runtime.runs.get(run.id))!.lastSeq;
    expect([...seen, ...rest.seqs]).toEqual(range(1, lastSeq));
    expect(rest.done).toEqual({ status: 'succeeded', lastSeq });
  });

  it('answers an unknown run with 404 before streaming, and a bad Last-Event-ID with 400', async () => {
    const missing = await fetch(`${t.base}/api/runs/00000000-0000-4000-8000-000000000000/stream`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect(await missing.json()).toMatchObject({ code: 'NOT_FOUND', data: { id: '00000000-0000-4000-8000-000000000000' } });

    const { run } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 0 } });
    const bad = await fetch(`${t.base}/api/runs/${run.id}/stream`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'BAD_REQUEST', data: { field: 'Last-Event-ID' } });
  });

  it('sends SSE headers and serves a finished run from the log', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 2, intervalMs: 0 } });
    await waitForStatus(t.runtime, run.id);
    const response = await fetch(`${t.base}/api/runs/${run.id}/stream?fromSeq=2`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    const body = await response.text();
    expect(body).toMatch(/^id: 2$/m);
    expect(body).not.toMatch(/^id: 1$/m);
    expect(body).toMatch(/^event: done$/m);
  });
});

describe('subscribe-then-backfill race (postgres queue, runs written by the test)', () => {
  let t: TestApi;
  beforeAll(async () => {
    // No safety re-read for ten minutes: a stream that missed a wake-up would hang and time the test out.
    t = await startTestApi({ backend: 'postgres', worker: false, api: { runStream: { recheckMs: 600_000, pageSize: 7 } } });
  });
  afterAll(async () => {
    await t?.close();
    expect(t?.faults ?? []).toEqual([]);
  });

  it('serves a reader slower than the socket from the log at its pace: every seq once, in order, then done', async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'slow-reader', input: null });
    await t.runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'test' } }]);
    // 4 MB of events: far more than the socket buffers hold, so the server must wait for the reader to drain.
    const filler = 'x'.repeat(2_000);
    for (let i = 0; i < 4; i++) {
      await t.runtime.eventLog.append(run.id, Array.from({ length: 500 }, (_, j) => ({ type: 'run.output', data: { data: { i, j, filler } } })));
    }
    await t.runtime.eventLog.append(run.id, [{ type: 'run.succeeded', data: { output: null } }]);

    const response = await fetch(`${t.base}/api/runs/${run.id}/stream`);
    const ids: number[] = [];
    let done = '';
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(message);
        if (id) ids.push(Number(id[1]));
        if (/^event: done$/m.test(message)) done = /^data: (.*)$/m.exec(message)![1]!;
      }
      // A slow consumer: one macrotask per chunk, so the server keeps finding the socket full.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(ids).toEqual(range(1, 2_003));
    expect(JSON.parse(done)).toEqual({ status: 'succeeded', lastSeq: 2_003 });
  });

  it('followers of one run woken by the same append share their log reads', async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'many-followers', input: null });
    await t.runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'test' } }]);
    let reads = 0;
    const eventLog = {
      ...t.runtime.eventLog,
      read(...args: Parameters<typeof t.runtime.eventLog.read>) {
        reads++;
        return t.runtime.eventLog.read(...args);
      },
    };
    // A bus of the test's own: the only wake-up the followers get is the one the test publishes.
    const bus = new RunEventBus();
    const tracker = new StreamTracker();
    const gate = new ReadGate(4);
    const followers = Array.from({ length: 20 }, () =>
      runEventStream(
        { bus, runs: t.runtime.runs, eventLog },
        { runId: run.id, fromSeq: 1, settings: { pageSize: 100, recheckMs: 600_000, retryMs: 1_000 }, exposeStacks: false },
        { open: () => tracker.begin('run', undefined), shuttingDown: () => false, gate, logger: console },
      ),
    );
    // Backlog: seqs 1 and 2, read once for all twenty (they all start reading from seq 1 in the same tick).
    const backlog = await Promise.all(followers.map(async (f) => [(await f.next()).value, (await f.next()).value]));
    expect(backlog.every((events) => events.map((e) => (e as { seq: number }).seq).join() === '1,2')).toBe(true);
    expect(reads).toBe(1);

    // Live: all twenty wait at seq 3 (subscribed since their first read); one append wakes them together.
    const live = followers.map((f) => f.next());
    reads = 0;
    await t.runtime.eventLog.append(run.id, [{ type: 'run.succeeded', data: { output: null } }]);
    bus.publish({ runId: run.id, lastSeq: 3 });
    expect((await Promise.all(live)).map((r) => (r.value as { seq: number }).seq)).toEqual(Array(20).fill(3));
    expect(reads).toBe(1);
    const ends = await Promise.all(followers.map((f) => f.next()));
    expect(ends.every((end) => end.done)).toBe(true);
    expect(tracker.count()).toBe(0);
  });

  it('an append that commits while the backfill read is in flight wakes the stream (it subscribed first)', async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'race', input: null });
    await t.runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'test' } }]);
    let reads = 0;
    const eventLog = {
      ...t.runtime.eventLog,
      // The stream's first read takes its snapshot, then the run ends and the bus announces it before the read
      // returns: the page is stale, and only a listener subscribed before the read heard the announcement.
      async read(...args: Parameters<typeof t.runtime.eventLog.read>) {
        const page = await t.runtime.eventLog.read(...args);
        if (reads++ === 0) {
          let heard!: () => void;
          const announced = new Promise<void>((resolve) => (heard = resolve));
          // Heard twice: from NOTIFY, then from the outbox drainer. Both arrive before the stale page returns.
          let times = 0;
          const stop = t.runtime.bus.subscribe(run.id, (signal: BusSignal) => {
            if (signal.kind === 'appended' && signal.lastSeq === 3 && ++times === 2) heard();
          });
          await t.runtime.eventLog.append(run.id, [{ type: 'run.succeeded', data: { output: null } }]);
          await announced;
          stop();
        }
        return page;
      },
    };
    const tracker = new StreamTracker();
    const stream = runEventStream(
      { bus: t.runtime.bus, runs: t.runtime.runs, eventLog },
      { runId: run.id, fromSeq: 1, settings: { pageSize: 100, recheckMs: 600_000, retryMs: 1_000 }, exposeStacks: false },
      { open: () => tracker.begin('run', undefined), shuttingDown: () => false, gate: new ReadGate(1), logger: console },
    );
    const seqs: number[] = [];
    let result = await stream.next();
    for (; !result.done; result = await stream.next()) seqs.push(result.value.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(result.value).toEqual({ status: 'succeeded', lastSeq: 3 });
    expect(reads).toBe(2);
    expect(tracker.count()).toBe(0);
  });

  it('never misses an event appended while clients connect', async () => {
    const { run } = await t.runtime.runs.create({ workflow: 'race', input: null });
    await t.runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'test' } }]);
    // Each append is a round trip to PostgreSQL, one after the other: on a loaded server that, not the clients,
    // is what this test spends its time on. What it is about is the number of connections racing an append.
    const appends = 96;
    const connectEvery = 4;
    const burstSize = 10;
    const clients: Promise<{ from: number; seqs: number[]; done: unknown }>[] = [];

    const writer = (async () => {
      for (let i = 0; i < appends; i++) {
        await t.runtime.eventLog.append(run.id, [{ type: 'run.output', data: { data: i } }]);
        // Connect clients while appends are committing, from the start and from wherever the log is now.
        if (i % connectEvery === 0) {
          const from = i % (2 * connectEvery) === 0 ? 1 : i + 2;
          clients.push(followWithClient(t.client, run.id, { fromSeq: from }).then((r) => ({ from, ...r })));
          clients.push(
            followWithEventSource(`${t.base}/api/runs/${run.id}/stream?fromSeq=${from}`).then((r) => ({
              from,
              seqs: r.ids.map(Number),
              done: r.done,
            })),
          );
        }
      }
      // The last append (the one that ends every stream) races a burst of connecting clients.
      const from = appends - 3;
      const burst = Array.from({ length: burstSize }, (_, i) =>
        i % 2
          ? followWithClient(t.client, run.id, { fromSeq: from }).then((r) => ({ from, ...r }))
          : followWithEventSource(`${t.base}/api/runs/${run.id}/stream?fromSeq=${from}`).then((r) => ({
              from,
              seqs: r.ids.map(Number),
              done: r.done,
            })),
      );
      clients.push(...burst);
      await t.runtime.eventLog.append(run.id, [{ type: 'run.succeeded', data: { output: { appends } } }]);
    })();
    await writer;
    const lastSeq = appends + 3;
    await waitForSeq(t.runtime, run.id, lastSeq);

    const results = await Promise.all(clients);
    expect(results).toHaveLength(2 * (appends / connectEvery) + burstSize);
    for (const result of results) {
      expect(result.seqs).toEqual(range(result.from, lastSeq));
      expect(result.done).toEqual({ status: 'succeeded', lastSeq });
    }
  });
});
