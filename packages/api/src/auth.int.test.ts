import { safe } from '@orpc/client';
import { countRunsAndEvents } from '@runstream/store/testing';
import { waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintReadToken } from './index.js';
import { clientFor, followWithEventSource, range, startTestApi, TEST_SECRET, type TestApi } from './testing/index.js';

const FULL = 'full-access-token';
const TTL = 60_000;
/** The injected clock read-token expiry is checked against: tests move it instead of waiting. */
let now = Date.UTC(2030, 0, 1);

let t: TestApi;
let runA: string;
let runB: string;
beforeAll(async () => {
  t = await startTestApi({
    backend: 'postgres',
    api: { auth: { tokens: ['another-token', FULL], readTokenSecret: TEST_SECRET, readTokenTtlMs: TTL, now: () => now } },
  });
  runA = (await t.engine.startRun({ workflow: 'demo.tokens', input: { text: 'a b c d e', intervalMs: 1 } })).run.id;
  runB = (await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } })).run.id;
  await Promise.all([waitForStatus(t.runtime, runA), waitForStatus(t.runtime, runB)]);
});
afterAll(async () => {
  await t?.close();
  expect(t?.faults ?? []).toEqual([]);
});

async function call(method: string, path: string, token?: string, body?: string) {
  const response = await fetch(`${t.base}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  return { status: response.status, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
}

async function mint(runId: string): Promise<{ token: string; expiresAt: string }> {
  const minted = await call('POST', `/api/runs/${runId}/token`, FULL);
  expect(minted.status).toBe(200);
  return minted.json;
}

describe('bearer tokens', () => {
  it('every API call needs one: 401 without, 401 with a wrong one, before input validation', async () => {
    expect(await call('GET', '/api/runs')).toMatchObject({ status: 401, json: { code: 'UNAUTHORIZED' } });
    expect(await call('GET', '/api/runs', 'wrong')).toMatchObject({ status: 401, json: { code: 'UNAUTHORIZED' } });
    expect(await call('POST', '/api/runs', undefined, '{"input": 1}')).toMatchObject({ status: 401 });
    expect(await call('GET', `/api/runs/${runA}/stream`)).toMatchObject({ status: 401 });
    const [error] = await safe(clientFor(t.base).runs.list({}));
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    const [wrong] = await safe(clientFor(t.base, 'wrong').workflows.list());
    expect(wrong).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  });

  it('any configured token grants everything, over REST and RPC', async () => {
    expect(await call('GET', '/api/runs', FULL)).toMatchObject({ status: 200 });
    expect(await call('GET', '/api/runs', 'another-token')).toMatchObject({ status: 200 });
    expect((await t.client.runs.get({ id: runA })).status).toBe('succeeded');
  });

  it('are accepted only in the Authorization header: not as ?token= nor as an input `token`, writes included', async () => {
    const before = (await countRunsAndEvents(t.runtime.store)).runs;
    const query = `token=${encodeURIComponent(FULL)}`;
    const create = '{"workflow": "demo.countdown", "input": {"count": 0}}';
    for (const [method, path, body] of [
      ['GET', `/api/runs?${query}`],
      ['POST', `/api/runs?${query}`, create],
      ['POST', `/api/runs/${runA}/cancel?${query}`],
      ['POST', `/api/runs/${runA}/token?${query}`],
      ['GET', `/api/runs/${runA}?${query}`],
      ['GET', `/api/runs/${runA}/events?${query}`],
      ['GET', `/api/runs/${runA}/stream?${query}`],
      ['GET', `/metrics?${query}`],
      ['POST', '/rpc/runs/create', JSON.stringify({ json: { workflow: 'demo.countdown', input: { count: 0 }, token: FULL } })],
      ['POST', '/rpc/runs/list', JSON.stringify({ json: { token: FULL } })],
      ['POST', '/rpc/runs/get', JSON.stringify({ json: { id: runA, token: FULL } })],
    ] as const) {
      const answer = await call(method, path, undefined, body);
      // Without a credential in the headers an RPC body is not even read (only the run stream's may carry a read
      // token): refused as a missing token. RPC wraps its error body in `json`.
      const message = path.startsWith('/rpc/') ? 'a valid bearer token is required' : 'an API token is accepted only in the Authorization header';
      expect({ status: answer.status, error: answer.json?.json ?? answer.json }, `${method} ${path}`).toMatchObject({
        status: 401,
        error: { code: 'UNAUTHORIZED', message },
      });
    }
    const [error] = await safe(clientFor(t.base).runs.stream({ id: runA, token: FULL }));
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect((await countRunsAndEvents(t.runtime.store)).runs).toEqual(before);
  });

  it('/health/* stays open, /metrics needs a token, the OpenAPI document is public', async () => {
    expect((await call('GET', '/health/live')).status).toBe(200);
    expect((await call('GET', '/health/ready')).status).toBe(200);
    expect((await call('GET', '/metrics')).status).toBe(401);
    expect((await call('GET', '/metrics', FULL)).status).toBe(200);
    expect((await call('GET', '/api/openapi.json')).status).toBe(200);
  });
});

describe('read tokens', () => {
  it('stream their run through ?token= on EventSource', async () => {
    const { token, expiresAt } = await mint(runA);
    expect(new Date(expiresAt).getTime()).toBe(now + TTL);
    const result = await followWithEventSource(`${t.base}/api/runs/${runA}/stream?token=${encodeURIComponent(token)}`);
    const lastSeq = (await t.runtime.runs.get(runA))!.lastSeq;
    expect(result.ids).toEqual(range(1, lastSeq).map(String));
    expect(result.done).toEqual({ status: 'succeeded', lastSeq });
  });

  it('stream their run over RPC with the input field `token` (typed client, no header)', async () => {
    const { token } = await mint(runA);
    const anonymous = clientFor(t.base);
    const iterator = await anonymous.runs.stream({ id: runA, token });
    const seqs: number[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) seqs.push(next.value.seq);
    expect(seqs).toEqual(range(1, (await t.runtime.runs.get(runA))!.lastSeq));
    const [error] = await safe(anonymous.runs.stream({ id: runB, token }));
    expect(error).toMatchObject({ code: 'FORBIDDEN', status: 403 });
  });

  it('read their run as a bearer token or ?token=, and nothing else', async () => {
    const { token } = await mint(runA);
    expect((await call('GET', `/api/runs/${runA}`, token)).status).toBe(200);
    expect((await call('GET', `/api/runs/${runA}/events?token=${encodeURIComponent(token)}`)).status).toBe(200);
    expect((await safe(clientFor(t.base, token).runs.events({ id: runA })))[0]).toBeNull();

    for (const [method, path, body] of [
      ['GET', '/api/runs'],
      ['POST', '/api/runs', '{"workflow": "demo.countdown", "input": {"count": 0}}'],
      ['POST', `/api/runs/${runA}/token`],
      ['POST', `/api/runs/${runA}/cancel`],
      ['GET', '/api/workflows'],
      ['GET', '/metrics'],
    ] as const) {
      expect(await call(method, path, token, body), `${method} ${path}`).toMatchObject({ status: 403 });
    }
  });

  it('are refused (403) for another run', async () => {
    const { token } = await mint(runA);
    expect(await call('GET', `/api/runs/${runB}`, token)).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    expect((await call('GET', `/api/runs/${runB}/stream?token=${encodeURIComponent(token)}`)).status).toBe(403);
    await expect(followWithEventSource(`${t.base}/api/runs/${runB}/stream?token=${encodeURIComponent(token)}`)).rejects.toMatchObject({
      status: 403,
    });
  });

  it('expire (401) once the injected clock passes their expiry', async () => {
    const { token } = await mint(runA);
    const url = `${t.base}/api/runs/${runA}/stream?token=${encodeURIComponent(token)}`;
    now += TTL - 1;
    expect((await call('GET', `/api/runs/${runA}`, token)).status).toBe(200);
    now += 1;
    expect(await call('GET', `/api/runs/${runA}`, token)).toMatchObject({
      status: 401,
      json: { code: 'UNAUTHORIZED', message: 'the read token has expired' },
    });
    await expect(followWithEventSource(url)).rejects.toMatchObject({ status: 401 });
  });

  it('minted with a past expiry, another secret or altered are refused (401)', async () => {
    const past = mintReadToken(TEST_SECRET, runA, new Date(now - 1));
    const foreign = mintReadToken('some-other-secret-0123456789', runA, new Date(now + TTL));
    const valid = mintReadToken(TEST_SECRET, runA, new Date(now + TTL));
    const altered = valid.replace(runA, runB);
    // Base64url decoders skip what is not in the alphabet and ignore padding: the signature must be canonical.
    const trailing = ['=', '==', '!!', '~~', ' ', '.'].map((junk) => `${valid}${junk}`);
    // 32 bytes are 43 characters whose last one carries 2 unused bits: setting one decodes to the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const nonCanonical = `${valid.slice(0, -1)}${alphabet[alphabet.indexOf(valid.at(-1)!) ^ 1]}`;
    expect((await call('GET', `/api/runs/${runA}`, valid)).status).toBe(200);
    for (const token of [past, foreign, altered, ...trailing, nonCanonical, 'rs1.x.y.z', '']) {
      expect((await call('GET', `/api/runs/${runA}/stream?token=${encodeURIComponent(token)}`)).status, token).toBe(401);
    }
  });
});
