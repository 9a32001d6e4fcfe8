import { createRunstreamClient, followRun, type RunEvent } from '@runstream/client';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, exitOf, freePort, poll, startServerProcess, type ServerProcess } from './testing/server-process.js';

let database: TestDatabase;
const started: ServerProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  for (const server of started) server.signal('SIGKILL');
  await Promise.all(started.map((server) => server.exited));
  await database?.drop();
});

interface Followed {
  seqs: number[];
  done: Promise<{ status: string; lastSeq: number }>;
  close(): void;
}

/** A plain `EventSource` (the `eventsource` package, as in a browser): it reconnects by itself with Last-Event-ID. */
function followWithEventSource(url: string): Followed {
  const es = new EventSource(url);
  const seqs: number[] = [];
  const done = new Promise<{ status: string; lastSeq: number }>((resolve, reject) => {
    es.onmessage = (event) => seqs.push(Number(event.lastEventId));
    es.addEventListener('done', (event) => {
      es.close();
      resolve(JSON.parse(event.data));
    });
    es.addEventListener('error', (event) => {
      const data = (event as MessageEvent).data;
      // Connection failures while the server is down are retried by EventSource; an `error` event sent by the
      // server, or EventSource giving up, ends the test.
      if ((typeof data === 'string' && data !== '') || es.readyState === es.CLOSED) {
        es.close();
        reject(new Error(`EventSource failed: ${String(data ?? (event as { message?: string }).message)}`));
      }
    });
  });
  // A test that fails early closes the followers: that outcome is not a second failure.
  done.catch(() => undefined);
  return { seqs, done, close: () => es.close() };
}

/** The typed oRPC client through `followRun`, which reconnects with `lastEventId` after any disconnect. */
function followWithClient(url: string, id: string): Followed {
  const abort = new AbortController();
  const seqs: number[] = [];
  const done = followRun(createRunstreamClient({ url }), id, {
    onEvent: (event: RunEvent) => void seqs.push(event.seq),
    signal: abort.signal,
    backoff: { initialMs: 100, maxMs: 1_000 },
  });
  done.catch(() => undefined);
  return { seqs, done, close: () => abort.abort() };
}

describe('following a run while its server is SIGKILLed and restarted', () => {
  it('a plain EventSource and the typed oRPC client each end with exactly seqs 1..N', async () => {
    const env = {
      DATABASE_URL: database.url,
      RUNSTREAM_NAMESPACE: database.name,
      PORT: String(await freePort()),
      // A killed worker's runs resume once its lease expires: keep that short for the test.
      RUNSTREAM_LEASE_MS: '2000',
    };
    const first = await startServerProcess(env);
    started.push(first.server);
    const text = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const created = await api<{ run: { id: string } }>(`${first.url}/api/runs`, {
      body: { workflow: 'demo.tokens', input: { text, intervalMs: 60 } },
    });
    expect(created.status).toBe(201);
    const id = created.body.run.id;

    const followers = [followWithEventSource(`${first.url}/api/runs/${id}/stream`), followWithClient(first.url, id)];
    try {
      await poll(async () => (followers.every((f) => f.seqs.length >= 5) ? true : undefined), 'both clients to see 5 events');
      first.server.signal('SIGKILL');
      expect(await exitOf(first.server)).toEqual({ code: null, signal: 'SIGKILL' });
      const seenBeforeKill = followers.map((f) => f.seqs.length);

      const second = await startServerProcess(env);
      started.push(second.server);
      expect(second.url).toBe(first.url);
      const [viaEventSource, viaClient] = await Promise.all(followers.map((f) => f.done));

      expect(viaEventSource).toMatchObject({ status: 'succeeded' });
      expect(viaClient).toMatchObject({ status: 'succeeded', lastSeq: viaEventSource!.lastSeq });
      const all = Array.from({ length: viaEventSource!.lastSeq }, (_, i) => i + 1);
      for (const follower of followers) expect(follower.seqs).toEqual(all);
      // The kill really cut the streams mid-run: each client got most of the run after it.
      for (const seen of seenBeforeKill) expect(seen).toBeLessThan(all.length / 2);

      const run = await api<{ status: string; lastSeq: number }>(`${second.url}/api/runs/${id}`);
      expect(run.body).toMatchObject({ status: 'succeeded', lastSeq: all.length });
      second.server.signal('SIGTERM');
      expect(await exitOf(second.server)).toEqual({ code: 0, signal: null });
    } finally {
      for (const follower of followers) follower.close();
    }
  });
});
