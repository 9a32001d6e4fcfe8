import { isDefinedError, safe } from '@orpc/client';
import { waitForStatus } from '@runstream/testkit';
import { countRunsAndEvents, countRunsWithIdempotencyKey } from '@runstream/store/testing';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from './index.js';
import { startTestApi, TEST_SECRET, until, type TestApi } from './testing/index.js';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ backend: 'postgres' });
});
afterAll(async () => {
  await t?.close();
});

function countRows(): Promise<{ runs: number; events: number }> {
  return countRunsAndEvents(t.runtime.store);
}

async function request(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${t.base}${path}`, {
    method,
    // Every write is JSON, bodiless ones included (the server refuses others: see request-guard.int.test.ts).
    headers: { ...(method === 'GET' ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the assertions on `json` fail with the text in `text`
  }
  return { status: response.status, json, text, headers: response.headers };
}

describe('REST routes', () => {
  it('creates, lists, reads, cancels and lists workflows and instances', async () => {
    const created = await request('POST', '/api/runs', JSON.stringify({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } }));
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ created: true, run: { workflow: 'demo.countdown', status: 'queued', lastSeq: 1 } });
    const id = (created.json.run as { id: string }).id;
    await waitForStatus(t.runtime, id);

    const got = await request('GET', `/api/runs/${id}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ id, status: 'succeeded', steps: [{ name: 'tick-1', status: 'completed' }] });

    const listed = await request('GET', '/api/runs?workflow=demo.countdown&limit=1');
    expect(listed.status).toBe(200);
    expect((listed.json.runs as { id: string }[]).map((run) => run.id)).toContain(id);

    const events = await request('GET', `/api/runs/${id}/events?fromSeq=2&limit=2`);
    expect(events.status).toBe(200);
    expect((events.json.events as { seq: number }[]).map((e) => e.seq)).toEqual([2, 3]);
    expect(events.json.nextSeq).toBe(4);

    const workflows = await request('GET', '/api/workflows');
    expect((workflows.json as unknown as { name: string }[]).map((w) => w.name).sort()).toEqual([
      'demo.approval',
      'demo.countdown',
      'demo.flaky',
      'demo.sleep',
      'demo.tokens',
    ]);
    const instances = await request('GET', '/api/instances');
    expect(instances.status).toBe(200);
    expect((instances.json as unknown as { id: string }[]).map((i) => i.id)).toContain(t.engine.instanceId);

    const { run: longRun } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 1_000, intervalMs: 20 } });
    const cancelled = await t.client.runs.cancel({ id: longRun.id });
    expect(['running', 'cancelled', 'queued']).toContain(cancelled.status);
    expect((await waitForStatus(t.runtime, longRun.id)).status).toBe('cancelled');
  });

  it('50 concurrent POST /api/runs with one idempotency key make exactly one run', async () => {
    const idempotencyKey = `once-${Date.now()}`;
    const body = JSON.stringify({ workflow: 'demo.countdown', input: { count: 0 }, idempotencyKey });
    const responses = await Promise.all(Array.from({ length: 50 }, () => request('POST', '/api/runs', body)));
    expect(responses.map((r) => r.status).sort()).toEqual([...Array(49).fill(200), 201]);
    const ids = new Set(responses.map((r) => (r.json.run as { id: string }).id));
    expect(ids.size).toBe(1);
    expect(responses.filter((r) => r.json.created === true)).toHaveLength(1);
    expect(responses.find((r) => r.json.created === true)?.status).toBe(201);
    expect(await countRunsWithIdempotencyKey(t.runtime.store, idempotencyKey)).toBe(1);
  });
});

describe('idempotency keys', () => {
  const create = (idempotencyKey: string, input: unknown, workflow = 'demo.countdown') =>
    request('POST', '/api/runs', JSON.stringify({ workflow, input, idempotencyKey }));

  it('a repeated identical request answers 200 with the same run (201 only when created)', async () => {
    const key = `repeat-${Date.now()}`;
    const first = await create(key, { count: 0, intervalMs: 1 });
    expect(first).toMatchObject({ status: 201, json: { created: true } });
    const again = await create(key, { intervalMs: 1, count: 0 });
    expect(again).toMatchObject({ status: 200, json: { created: false, run: { id: (first.json.run as { id: string }).id } } });
    const overRpc = await t.client.runs.create({ workflow: 'demo.countdown', input: { count: 0, intervalMs: 1 }, idempotencyKey: key });
    expect(overRpc).toMatchObject({ created: false, run: { id: (first.json.run as { id: string }).id } });
  });

  it('reused with another workflow or input: 409 IDEMPOTENCY_KEY_REUSED naming the run, nothing written', async () => {
    const key = `reuse-${Date.now()}`;
    const first = await create(key, { count: 0 });
    const id = (first.json.run as { id: string }).id;
    await waitForStatus(t.runtime, id);
    const before = await countRows();
    for (const [workflow, input] of [
      ['demo.countdown', { count: 1 }],
      ['demo.sleep', { ms: 1 }],
    ] as const) {
      const reused = await create(key, input, workflow);
      expect(reused, reused.text).toMatchObject({
        status: 409,
        json: { code: 'IDEMPOTENCY_KEY_REUSED', status: 409, data: { id, field: 'idempotencyKey' } },
      });
      expect(reused.text).not.toContain('"count"');
    }
    const [error] = await safe(t.client.runs.create({ workflow: 'demo.countdown', input: { count: 2 }, idempotencyKey: key }));
    expect(isDefinedError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 409, data: { id } });
    expect(await countRows()).toEqual(before);
    expect(t.faults).toEqual([]);
  });

  it('with a lone surrogate: 400 naming idempotencyKey, nothing written', async () => {
    const before = await countRows();
    for (const key of ['"k\\ud800"', '"k\\udfff"']) {
      const response = await request('POST', '/api/runs', `{"workflow": "demo.countdown", "input": {"count": 0}, "idempotencyKey": ${key}}`);
      expect(response, response.text).toMatchObject({ status: 400, json: { code: 'BAD_REQUEST', data: { field: 'idempotencyKey' } } });
    }
    expect(await countRows()).toEqual(before);
  });
});

describe('bad requests are 4xx with a message, a named field and nothing written', () => {
  const runId = '00000000-0000-4000-8000-000000000000';
  let before: { runs: number; events: number };
  let someRun: string;
  beforeAll(async () => {
    someRun = (await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 0 } })).run.id;
    await waitForStatus(t.runtime, someRun);
    before = await countRows();
  });

  it.each([
    ['malformed JSON', 'POST', '/api/runs', '{"workflow": "demo.countdown", ', 400, '(body)'],
    ['a missing workflow', 'POST', '/api/runs', '{"input": {}}', 400, 'workflow'],
    ['input failing its schema', 'POST', '/api/runs', '{"workflow": "demo.countdown", "input": {"count": "ten"}}', 400, 'input.count'],
    ['input out of range', 'POST', '/api/runs', '{"workflow": "demo.countdown", "input": {"count": -1}}', 400, 'input.count'],
    ['a bad list cursor', 'GET', '/api/runs?cursor=not-a-cursor', undefined, 400, 'cursor'],
    ['a bad status filter', 'GET', '/api/runs?status=sleepy', undefined, 400, 'status'],
    ['a too large limit', 'GET', '/api/runs?limit=5000', undefined, 400, 'limit'],
    ['a bad feed cursor', 'GET', '/api/feed/stream?after=1-2', undefined, 400, 'after'],
    ['a negative fromSeq (events)', 'GET', `/api/runs/${runId}/events?fromSeq=-1`, undefined, 400, 'fromSeq'],
    ['a negative fromSeq (stream)', 'GET', `/api/runs/${runId}/stream?fromSeq=-1`, undefined, 400, 'fromSeq'],
    ['a non-numeric fromSeq', 'GET', `/api/runs/${runId}/stream?fromSeq=abc`, undefined, 400, 'fromSeq'],
    ['a non-uuid id', 'GET', '/api/runs/not-a-uuid', undefined, 400, 'id'],
    ['a non-uuid id (cancel)', 'POST', '/api/runs/not-a-uuid/cancel', undefined, 400, 'id'],
    ['a non-uuid id (stream)', 'GET', '/api/runs/not%20a-uuid/stream', undefined, 400, 'id'],
  ])('%s', async (_name, method, path, body, status, field) => {
    const response = await request(method, path, body);
    expect(response.status, response.text).toBe(status);
    expect(response.json).toMatchObject({ code: 'BAD_REQUEST', status: 400, data: { field } });
    expect(typeof response.json.message).toBe('string');
    expect((response.json.message as string).length).toBeGreaterThan(0);
    expect(response.text).not.toMatch(/stack|\bat .+\(.+:\d+:\d+\)/);
    expect(await countRows()).toEqual(before);
  });

  it('over RPC too, as typed errors', async () => {
    const [error] = await safe(t.client.runs.create({ workflow: 'demo.countdown', input: { count: 'ten' } }));
    expect(isDefinedError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'BAD_REQUEST', status: 400, data: { field: 'input.count' } });
    const [invalid] = await safe(t.client.runs.events({ id: runId, fromSeq: -3 }));
    expect(invalid).toMatchObject({ code: 'BAD_REQUEST', data: { field: 'fromSeq' } });
    expect(isDefinedError(invalid)).toBe(true);
    const [missing] = await safe(t.client.runs.get({ id: runId }));
    expect(isDefinedError(missing) && missing.code === 'NOT_FOUND' && missing.data.id).toBe(runId);
    expect(await countRows()).toEqual(before);
  });

  it('NOT_FOUND, CONFLICT and unknown routes', async () => {
    expect(await request('GET', `/api/runs/${runId}`)).toMatchObject({ status: 404, json: { code: 'NOT_FOUND', data: { id: runId } } });
    expect(await request('GET', `/api/runs/${runId}/events`)).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
    expect(await request('POST', `/api/runs/${runId}/cancel`)).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
    expect(await request('POST', `/api/runs/${someRun}/retry`)).toMatchObject({
      status: 409,
      json: { code: 'CONFLICT', data: { id: someRun, status: 'succeeded' } },
    });
    expect(await request('POST', `/api/runs/${someRun}/cancel`)).toMatchObject({ status: 409, json: { code: 'CONFLICT' } });
    for (const [method, path] of [
      ['GET', '/nowhere'],
      ['GET', '/api/nowhere'],
      ['DELETE', '/api/runs'],
      ['GET', '/rpc/nowhere'],
    ] as const) {
      const response = await request(method, path);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(response.json).toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(await countRows()).toEqual(before);
  });

  it('logged no fault for any of them', () => {
    expect(t.faults).toEqual([]);
  });
});

describe('health, metrics and the OpenAPI document', () => {
  it('/health/live and /health/ready answer 200 when PostgreSQL and the queue are up', async () => {
    expect(await request('GET', '/health/live')).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(await request('GET', '/health/ready')).toMatchObject({
      status: 200,
      json: { status: 'ok', checks: { postgres: { ok: true }, queue: { ok: true, backend: 'postgres' } } },
    });
    expect(await t.client.health()).toMatchObject({ status: 'ok' });
  });

  it('/health/ready answers 503 naming the dependency that is down', async () => {
    const api = createApiServer({
      runtime: t.runtime,
      engine: t.engine,
      queue: { backend: 'redis', ping: () => Promise.reject(new Error('connection refused')), counts: t.queue.counts },
      auth: { tokens: [], readTokenSecret: TEST_SECRET },
      logger: { error: () => {}, warn: () => {} },
    });
    const server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health/ready`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        status: 'degraded',
        checks: { postgres: { ok: true }, queue: { ok: false, backend: 'redis', error: 'unreachable' } },
      });
    } finally {
      await api.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('/metrics exposes runs by status, appended events, outbox lag, open streams and queue depth', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 10_000, intervalMs: 60_000 } });
    const controller = new AbortController();
    const stream = await fetch(`${t.base}/api/runs/${run.id}/stream`, { signal: controller.signal });
    await until(() => t.api.openStreams() === 1, 'the stream to open');
    try {
      const response = await request('GET', '/metrics');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      for (const line of [
        /^# TYPE runstream_runs gauge$/m,
        /^runstream_runs\{status="succeeded"\} \d+$/m,
        /^runstream_runs\{status="failed"\} \d+$/m,
        /^runstream_events_appended_total [1-9]\d*$/m,
        /^runstream_outbox_pending \d+$/m,
        /^runstream_outbox_lag_seconds [\d.e+-]+$/m,
        /^runstream_api_open_streams\{kind="run"\} 1$/m,
        /^runstream_api_open_streams\{kind="feed"\} 0$/m,
        /^runstream_queue_jobs\{state="waiting",backend="postgres"\} \d+$/m,
        /^runstream_bus_listeners \d+$/m,
        /^runstream_metrics_source_up\{source="runs"\} 1$/m,
      ]) {
        expect(response.text).toMatch(line);
      }
      expect(response.text).not.toMatch(/source="[a-z]+"\} 0/);
      if (process.env.SHOW_METRICS) console.log(response.text);
    } finally {
      controller.abort();
      await stream.body?.cancel().catch(() => {});
      await t.engine.cancelRun(run.id);
    }
    await until(() => t.api.openStreams() === 0, 'the stream to close');
  });

  it('/api/openapi.json lists the REST paths', async () => {
    const response = await request('GET', '/api/openapi.json');
    expect(response.status).toBe(200);
    expect(response.json.openapi).toMatch(/^3\./);
    expect(Object.keys(response.json.paths as object).sort()).toEqual([
      '/feed/stream',
      '/health',
      '/instances',
      '/runs',
      '/runs/{id}',
      '/runs/{id}/cancel',
      '/runs/{id}/children',
      '/runs/{id}/events',
      '/runs/{id}/retry',
      '/runs/{id}/signals/{name}',
      '/runs/{id}/stream',
      '/runs/{id}/token',
      '/schedules',
      '/schedules/{id}',
      '/schedules/{id}/pause',
      '/schedules/{id}/resume',
      '/workflows',
    ]);
    const paths = response.json.paths as Record<string, Record<string, { responses: Record<string, { content?: object }> }>>;
    expect(Object.keys(paths['/runs/{id}/stream']!.get!.responses['200']!.content!)).toEqual(['text/event-stream']);
  });
});
