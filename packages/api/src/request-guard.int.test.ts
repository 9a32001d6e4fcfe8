import { countRunsAndEvents } from '@runstream/store/testing';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/index.js';

/**
 * What a web page can make a browser send to a Runstream server without tokens on the user's machine: forms,
 * no-cors fetches, and (after DNS rebinding) anything under a foreign `Host`. `fetch` cannot set `Host`, so these
 * requests go through `node:http`.
 */
let t: TestApi;
let port: number;
const DASHBOARD_ELSEWHERE = 'https://dashboard.example';
beforeAll(async () => {
  t = await startTestApi({ backend: 'postgres', worker: false, api: { allowedOrigins: [DASHBOARD_ELSEWHERE] } });
  port = Number(new URL(t.base).port);
});
afterAll(async () => {
  await t?.close();
  expect(t?.faults ?? []).toEqual([]);
});

interface Answer {
  status: number;
  json: { code?: string; data?: { field?: string }; run?: { id: string } } & Record<string, unknown>;
}

/** One request; an RPC body (`{ json }`) is unwrapped. */
function send(method: string, path: string, headers: OutgoingHttpHeaders = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const parsed = text.startsWith('{') ? JSON.parse(text) : { text };
        resolve({ status: res.statusCode ?? 0, json: path.startsWith('/rpc/') ? parsed.json : parsed });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const countRows = () => countRunsAndEvents(t.runtime.store);

const createBody = JSON.stringify({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } });
const json = { 'content-type': 'application/json' };

describe('writes need a JSON content type (browsers preflight those)', () => {
  it('a form, multipart, text or no content type is 415 naming Content-Type, and writes nothing', async () => {
    const before = await countRows();
    const boundary = 'x-boundary';
    for (const [what, headers, body] of [
      ['a urlencoded form', { 'content-type': 'application/x-www-form-urlencoded' }, 'workflow=demo.countdown&input=%7B%7D'],
      ['a multipart form', { 'content-type': `multipart/form-data; boundary=${boundary}` }, `--${boundary}\r\nContent-Disposition: form-data; name="workflow"\r\n\r\ndemo.countdown\r\n--${boundary}--\r\n`],
      ['text/plain (a no-cors fetch)', { 'content-type': 'text/plain;charset=UTF-8' }, createBody],
      ['no content type', {}, createBody],
    ] as const) {
      for (const path of ['/api/runs', '/rpc/runs/create']) {
        const answer = await send('POST', path, headers, path.startsWith('/rpc') ? JSON.stringify({ json: JSON.parse(createBody) }) : body);
        expect(answer, `${what} to ${path}`).toMatchObject({ status: 415, json: { code: 'UNSUPPORTED_MEDIA_TYPE', data: { field: 'Content-Type' } } });
      }
    }
    expect(await countRows()).toEqual(before);
  });

  it('a bodiless cancel without a content type is refused too; with one it cancels', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } });
    expect(await send('POST', `/api/runs/${run.id}/cancel`)).toMatchObject({ status: 415, json: { data: { field: 'Content-Type' } } });
    expect((await t.runtime.runs.get(run.id))?.status).toBe('queued');
    expect(await send('POST', `/api/runs/${run.id}/cancel`, json)).toMatchObject({ status: 200, json: { status: 'cancelled' } });
  });

  it('application/json with parameters is accepted', async () => {
    expect((await send('POST', '/api/runs', { 'content-type': 'application/json; charset=utf-8' }, createBody)).status).toBe(201);
  });

  it('GETs are left alone: oRPC serves a procedure over GET only when its route is a GET', async () => {
    const before = await countRows();
    const data = encodeURIComponent(JSON.stringify({ json: JSON.parse(createBody) }));
    expect(await send('GET', `/rpc/runs/create?data=${data}`)).toMatchObject({ status: 405 });
    expect(await countRows()).toEqual(before);
  });
});

describe('a foreign Origin cannot write', () => {
  it('403 naming Origin for another site or `null`; nothing written', async () => {
    const before = await countRows();
    for (const origin of ['http://evil.example', 'null', `http://localhost:${port}`, `http://127.0.0.1:${port + 1}`]) {
      const answer = await send('POST', '/api/runs', { ...json, origin }, createBody);
      expect(answer, origin).toMatchObject({ status: 403, json: { code: 'ORIGIN_NOT_ALLOWED', data: { field: 'Origin' } } });
      expect((await send('POST', '/rpc/runs/create', { ...json, origin }, JSON.stringify({ json: JSON.parse(createBody) }))).status).toBe(403);
    }
    expect(await countRows()).toEqual(before);
  });

  it('the request’s own origin (its Host), an allowed origin, and no Origin (curl, the CLI) can', async () => {
    expect((await send('POST', '/api/runs', { ...json, origin: `http://127.0.0.1:${port}` }, createBody)).status).toBe(201);
    expect((await send('POST', '/api/runs', { ...json, origin: `http://LOCALHOST:${port}`, host: `localhost:${port}` }, createBody)).status).toBe(201);
    expect((await send('POST', '/api/runs', { ...json, origin: DASHBOARD_ELSEWHERE }, createBody)).status).toBe(201);
    expect((await send('POST', '/api/runs', json, createBody)).status).toBe(201);
  });

  it('reads are not writes: a GET with a foreign Origin is answered (without CORS headers the page cannot read it)', async () => {
    const answer = await send('GET', '/api/workflows', { origin: 'http://evil.example' });
    expect(answer.status).toBe(200);
  });
});

describe('without tokens, only loopback Host names are served (DNS rebinding)', () => {
  it('a foreign Host is 421 naming Host, on every route', async () => {
    for (const host of ['attacker.example:7420', 'attacker.example', '127.0.0.1.attacker.example', 'localhost.attacker.example:80', '10.0.0.1', '[::2]:7420']) {
      for (const [method, path, headers, body] of [
        ['GET', '/api/runs', {}, undefined],
        ['GET', '/api/runs/00000000-0000-4000-8000-000000000000/stream', {}, undefined],
        ['POST', '/rpc/runs/list', json, '{"json":{}}'],
        ['GET', '/health/ready', {}, undefined],
      ] as const) {
        const answer = await send(method, path, { ...headers, host }, body);
        expect(answer, `${host} ${method} ${path}`).toMatchObject({ status: 421, json: { code: 'MISDIRECTED_REQUEST', data: { field: 'Host' } } });
      }
    }
  });

  it('loopback names with any port are served', async () => {
    for (const host of ['localhost', `localhost:${port}`, 'LocalHost:1', 'app.localhost:8080', '127.0.0.1', '127.1.2.3:80', '[::1]', `[::1]:${port}`]) {
      expect((await send('GET', '/api/workflows', { host })).status, host).toBe(200);
    }
  });
});
