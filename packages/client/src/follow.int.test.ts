import { serveTestApi, type TestApiServer } from '@runstream/api/testing';
import { demoWorkflows } from '@runstream/demo-workflows';
import { createTestEngine, type TestEngine } from '@runstream/engine/testing';
import { waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunstreamClient, type RunstreamClient } from './client.js';
import { followFeed, followRun } from './follow.js';
import type { FeedEvent, RunEvent } from './types.js';

const token = 'client-test-token';
const auth = { tokens: [token], readTokenSecret: 'client-test-read-token-secret' };

/** Starts the real API over `t`'s runtime and engine on `port` (0: any free port). */
const startHttp = (t: TestEngine, port = 0) => serveTestApi(t, { port, api: { auth, keepAliveMs: 1_000 } });

const refused = (error: unknown) => (error as { cause?: { code?: unknown } } | undefined)?.cause?.code === 'ECONNREFUSED';
const text = Array.from({ length: 40 }, (_, i) => `word${i + 1}`).join(' ');

describe('followRun against the real API', () => {
  let t: TestEngine;
  let server: TestApiServer;
  let port: number;
  let client: RunstreamClient;

  beforeAll(async () => {
    t = await createTestEngine({ backend: 'postgres', workflows: demoWorkflows });
    server = await startHttp(t);
    port = server.port;
    client = createRunstreamClient({ url: `http://127.0.0.1:${port}`, token });
  });
  afterAll(async () => {
    if (server?.server.listening) await server.close();
    await t?.close();
  });

  it('follows demo.tokens to completion with exactly seqs 1..N', async () => {
    const { run } = await client.runs.create({ workflow: 'demo.tokens', input: { text: 'one two three', intervalMs: 1 } });
    const seen: RunEvent[] = [];
    const end = await followRun(client, run.id, { onEvent: (event) => void seen.push(event) });

    const stored = await t.runtime.eventLog.read(run.id);
    expect(end).toEqual({ status: 'succeeded', lastSeq: stored.length });
    expect(seen.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(seen.map((e) => e.type)).toEqual(stored.map((e) => e.type));
    const chunks = seen.filter((e) => e.type === 'step.chunk').map((e) => (e.data as { data: string }).data);
    expect(chunks.join('')).toBe('one two three');
  });

  it('resumes from fromSeq and ends at once for a finished run', async () => {
    const { run } = await client.runs.create({ workflow: 'demo.tokens', input: { text: 'a b', intervalMs: 0 } });
    const done = await waitForStatus(t.runtime, run.id);
    const seen: number[] = [];
    const end = await followRun(client, run.id, { fromSeq: 3, onEvent: (event) => void seen.push(event.seq) });
    expect(end).toEqual({ status: 'succeeded', lastSeq: done.lastSeq });
    expect(seen).toEqual(Array.from({ length: done.lastSeq - 2 }, (_, i) => i + 3));
  });

  it('survives the server going away mid-stream and coming back on the same port: still exactly 1..N', async () => {
    const { run } = await client.runs.create({ workflow: 'demo.tokens', input: { text, intervalMs: 20 } });
    const seqs: number[] = [];
    const reconnectErrors: unknown[] = [];
    let restarting: Promise<void> | undefined;
    let sawRefused!: () => void;
    const downAndRefused = new Promise<void>((resolve) => (sawRefused = resolve));
    let seqAtRestart = 0;

    const end = await followRun(client, run.id, {
      onEvent: (event) => {
        seqs.push(event.seq);
        if (event.seq === 5 && !restarting) {
          seqAtRestart = event.seq;
          // Kill the server under the open stream; bring a new one up on the same port only once the follower
          // has been refused while it was down.
          restarting = (async () => {
            await server.kill();
            await downAndRefused;
            server = await startHttp(t, port);
          })();
        }
      },
      onReconnect: ({ error }) => {
        reconnectErrors.push(error);
        if (refused(error)) sawRefused();
      },
    });
    await restarting;

    const stored = await t.runtime.eventLog.read(run.id);
    expect(end).toEqual({ status: 'succeeded', lastSeq: stored.length });
    expect(seqs).toEqual(stored.map((_, i) => i + 1));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqAtRestart).toBeLessThan(stored.length);
    expect(reconnectErrors.some(refused)).toBe(true);
    expect(server.server.listening).toBe(true);
    expect(server.port).toBe(port);
  });

  it('rides out a graceful shutdown (error event, then 503s, then refused) and a new server: still exactly 1..N', async () => {
    const { run } = await client.runs.create({ workflow: 'demo.tokens', input: { text, intervalMs: 20 } });
    const seqs: number[] = [];
    const codes: string[] = [];
    let restarting: Promise<void> | undefined;
    const heard = (match: (error: unknown) => boolean) => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, check: (error: unknown) => match(error) && resolve() };
    };
    const unavailable = heard((error) => (error as { code?: unknown }).code === 'SERVICE_UNAVAILABLE');
    const refusedWhileDown = heard(refused);

    const end = await followRun(client, run.id, {
      onEvent: (event) => {
        seqs.push(event.seq);
        if (event.seq === 5 && !restarting) {
          restarting = (async () => {
            await server.api.close(); // ends the open stream with an error event; later requests get 503
            await unavailable.promise;
            await server.kill();
            await refusedWhileDown.promise;
            server = await startHttp(t, port);
          })();
        }
      },
      onReconnect: ({ error }) => {
        codes.push(String((error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code));
        unavailable.check(error);
        refusedWhileDown.check(error);
      },
    });
    await restarting;

    const stored = await t.runtime.eventLog.read(run.id);
    expect(end).toEqual({ status: 'succeeded', lastSeq: stored.length });
    expect(seqs).toEqual(stored.map((_, i) => i + 1));
    expect(codes).toContain('SERVICE_UNAVAILABLE');
    expect(codes).toContain('ECONNREFUSED');
  });

  it('fails at once, without reconnecting, for an unknown run or a bad token', async () => {
    const reconnects: unknown[] = [];
    const onReconnect = (info: unknown) => void reconnects.push(info);
    await expect(
      followRun(client, '00000000-0000-4000-8000-00000000abcd', { onEvent: () => {}, onReconnect }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const { run } = await client.runs.create({ workflow: 'demo.tokens', input: { text: 'x', intervalMs: 0 } });
    const stranger = createRunstreamClient({ url: `http://127.0.0.1:${port}`, token: 'wrong' });
    await expect(followRun(stranger, run.id, { onEvent: () => {}, onReconnect })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await expect(followRun(client, 'not-a-uuid', { onEvent: () => {}, onReconnect })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(reconnects).toEqual([]);
  });

  it('follows the cross-run feed with cursors until aborted', async () => {
    const { run } = await client.runs.create({ workflow: 'demo.tokens', input: { text: 'feed me', intervalMs: 0 } });
    const controller = new AbortController();
    const seen: FeedEvent[] = [];
    const following = followFeed(client, {
      after: '0:0',
      signal: controller.signal,
      onEvent: (event) => {
        seen.push(event);
        if (event.runId === run.id && event.type === 'run.succeeded') controller.abort(new Error('seen enough'));
      },
    });
    await expect(following).rejects.toThrow('seen enough');
    const mine = seen.filter((e) => e.runId === run.id).map((e) => e.type);
    expect(mine).toEqual(['run.created', 'run.started', 'run.succeeded']);
    const cursors = seen.map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    // The gap-safe feed only serves transactions older than the cluster's oldest one in flight, so other test
    // files' open transactions (in any database) can hold it back for a while on a busy machine.
  }, 150_000);
});
