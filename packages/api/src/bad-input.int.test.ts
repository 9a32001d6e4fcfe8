import { countRunsAndEvents } from '@runstream/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/index.js';

// Input that PostgreSQL or the process cannot take (NUL, lone surrogates, integers past the column, dates past
// its range, deep nesting) is the client's mistake: a 400 naming the field, nothing written, nothing logged.
let t: TestApi;
let runId: string;
beforeAll(async () => {
  t = await startTestApi({ backend: 'postgres', worker: false });
  const created = await t.client.runs.create({ workflow: 'demo.countdown', input: { count: 1 } });
  runId = created.run.id;
});
afterAll(async () => {
  await t?.close();
});

function countRows(): Promise<{ runs: number; events: number }> {
  return countRunsAndEvents(t.runtime.store);
}

async function send(method: string, path: string, options: { body?: string; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${t.base}${path}`, {
    method,
    headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  return { status: response.status, text };
}

function expectFieldError(result: { status: number; text: string }, field: string) {
  expect(result.status, result.text).toBe(400);
  const body = JSON.parse(result.text) as { json?: unknown };
  // RPC wraps its payload in `json`.
  expect(body.json ?? body).toMatchObject({ code: 'BAD_REQUEST', data: { field } });
}

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const listCursor = (at: string) => Buffer.from(`${at}|0190f0f0-0000-7000-8000-000000000000`).toString('base64url');

describe('bad input is a 400 naming the field, and writes nothing', () => {
  const writes: [string, string, string][] = [
    ['NUL in the input', JSON.stringify({ workflow: 'demo.countdown', input: { count: 1, note: 'a\u0000b' } }), 'input.note'],
    ['NUL in an input key', JSON.stringify({ workflow: 'demo.countdown', input: { count: 1, 'a\u0000': 1 } }), 'input'],
    ['a lone surrogate in the input', `{"workflow":"demo.countdown","input":{"count":1,"note":"\\ud800"}}`, 'input.note'],
    ['NUL in the idempotency key', JSON.stringify({ workflow: 'demo.countdown', input: { count: 1 }, idempotencyKey: 'k\u0000' }), 'idempotencyKey'],
    ['a lone surrogate in the idempotency key', `{"workflow":"demo.countdown","input":{"count":1},"idempotencyKey":"k\\udc00"}`, 'idempotencyKey'],
    ['NUL in the workflow name', JSON.stringify({ workflow: 'demo\u0000', input: {} }), 'workflow'],
    ['10,000 levels of nesting in the input', `{"workflow":"demo.countdown","input":{"count":1,"deep":${nested(10_000)}}}`, 'input'],
  ];
  it.each(writes)('POST /api/runs with %s', async (_what, body, field) => {
    const before = await countRows();
    expectFieldError(await send('POST', '/api/runs', { body }), field);
    expect(await countRows()).toEqual(before);
  });

  it('POST /rpc/runs/create with 10,000 levels of nesting', async () => {
    const before = await countRows();
    const body = `{"json":{"workflow":"demo.countdown","input":{"count":1,"deep":${nested(10_000)}}}}`;
    expectFieldError(await send('POST', '/rpc/runs/create', { body }), 'input');
    expect(await countRows()).toEqual(before);
  });

  // A query string cannot carry a lone surrogate (invalid UTF-8 decodes to U+FFFD); an RPC body can.
  it('POST /rpc/runs/list with a lone surrogate in a list filter', async () => {
    expectFieldError(await send('POST', '/rpc/runs/list', { body: '{"json":{"workflow":"a\\ud800b"}}' }), 'workflow');
  });

  const reads: [string, string, Record<string, string>, string][] = [
    ['NUL in a list filter', '/api/runs?workflow=a%00b', {}, 'workflow'],
    ['createdAfter past PostgreSQL', '/api/runs?createdAfter=%2B275760-09-13T00:00:00.000Z', {}, 'createdAfter'],
    ['createdBefore before PostgreSQL', '/api/runs?createdBefore=-271821-04-20T00:00:00.000Z', {}, 'createdBefore'],
    ['a list cursor past PostgreSQL', `/api/runs?cursor=${listCursor('+275760-09-13T00:00:00.000Z')}`, {}, 'cursor'],
    ['a list cursor before PostgreSQL', `/api/runs?cursor=${listCursor('-271821-04-20T00:00:00.000Z')}`, {}, 'cursor'],
    ['fromSeq at the integer bound on events', '/api/runs/{id}/events?fromSeq=2147483647', {}, ''],
    ['fromSeq past the integer bound on events', '/api/runs/{id}/events?fromSeq=3000000000', {}, 'fromSeq'],
    ['fromSeq past the integer bound on a stream', '/api/runs/{id}/stream?fromSeq=3000000000', {}, 'fromSeq'],
    ['Last-Event-ID at the integer bound on a stream', '/api/runs/{id}/stream', { 'last-event-id': '2147483647' }, 'Last-Event-ID'],
    ['a feed cursor past bigint', '/api/feed/stream?after=1:9999999999999999999', {}, 'after'],
    ['a feed cursor past xid8', '/api/feed/stream?after=99999999999999999999:1', {}, 'after'],
  ];
  it.each(reads)('GET with %s', async (_what, path, headers, field) => {
    const before = await countRows();
    const result = await send('GET', path.replace('{id}', runId), { headers });
    // The last possible seq is a valid place to start reading: an empty page, not an error.
    if (field === '') expect(result.status, result.text).toBe(200);
    else expectFieldError(result, field);
    expect(await countRows()).toEqual(before);
  });

  it('logged no fault', () => {
    expect(t.faults).toEqual([]);
  });
});
