import { isDefinedError, safe } from '@orpc/client';
import { testBackends, waitForEvent, waitForStatus } from '@runstream/testkit';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/index.js';

describe.each(testBackends)('signals over the API on %s', (backend) => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi({ backend });
  });
  afterAll(async () => {
    await t?.close();
    expect(t?.faults ?? []).toEqual([]);
  });

  async function post(path: string, body: unknown) {
    const response = await fetch(`${t.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  async function waitingApproval() {
    const { run } = await t.engine.startRun({ workflow: 'demo.approval', input: { request: 'ship it' } });
    await waitForEvent(t.runtime, run.id, 'run.waiting');
    return run.id;
  }

  it('POST /api/runs/{id}/signals/{name}: refuses bad data naming the field, delivers once per key, 409 once finished', async () => {
    const id = await waitingApproval();
    const shown = await t.client.runs.get({ id });
    expect(shown.waiting).toMatchObject({ signal: 'approval', schema: { type: 'object' } });

    const lastSeq = shown.lastSeq;
    const refused = await post(`/api/runs/${id}/signals/approval`, { data: { approved: 'yes', by: 'ana' } });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ code: 'BAD_REQUEST', data: { field: 'data.approved' } });
    expect((await t.runtime.runs.get(id))!.lastSeq).toBe(lastSeq);

    const body = { data: { approved: true, by: 'ana' }, idempotencyKey: 'approval-1' };
    const sent = await post(`/api/runs/${id}/signals/approval`, body);
    expect(sent.status).toBe(200);
    expect(sent.json).toMatchObject({ delivered: true, seq: lastSeq + 1 });
    const again = await post(`/api/runs/${id}/signals/approval`, body);
    expect(again.json).toMatchObject({ delivered: false, seq: null });

    const run = await waitForStatus(t.runtime, id);
    expect(run).toMatchObject({ status: 'succeeded', output: { request: 'ship it', approved: true, by: 'ana' } });

    // The signal is in the run's log, so its stream carries it.
    const iterator = await t.client.runs.stream({ id });
    const types: string[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) types.push(next.value.type);
    expect(types.filter((type) => type.startsWith('signal.'))).toEqual(['signal.received', 'signal.consumed']);

    const late = await post(`/api/runs/${id}/signals/approval`, { data: { approved: false, by: 'bo' } });
    expect(late.status).toBe(409);
    expect(late.json).toMatchObject({ code: 'CONFLICT', data: { id, status: 'succeeded' } });
  });

  it('answers 404 for an unknown run and 400 naming a bad signal name or run id', async () => {
    const unknown = await post(`/api/runs/${randomUUID()}/signals/approval`, { data: null });
    expect(unknown.status).toBe(404);
    const badName = await post(`/api/runs/${randomUUID()}/signals/${encodeURIComponent('no spaces')}`, { data: null });
    expect(badName.status).toBe(400);
    expect(badName.json).toMatchObject({ data: { field: 'name' } });
    const badId = await post('/api/runs/not-a-run/signals/approval', { data: null });
    expect(badId.status).toBe(400);
    expect(badId.json).toMatchObject({ data: { field: 'id' } });
  });

  it('the typed client sends a signal before the run waits; the wait takes it', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.approval', input: { request: 'early' } });
    const [error, result] = await safe(
      t.client.runs.signal({ id: run.id, name: 'approval', data: { approved: false, by: 'cy' } }),
    );
    expect(error).toBeNull();
    expect(result!.delivered).toBe(true);
    expect((await waitForStatus(t.runtime, run.id)).output).toEqual({ request: 'early', approved: false, by: 'cy' });

    const [conflict] = await safe(t.client.runs.signal({ id: run.id, name: 'approval', data: null }));
    expect(isDefinedError(conflict) && conflict.code).toBe('CONFLICT');
  });
});

describe('child runs and dependencies over the API', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi({ backend: 'postgres' });
  });
  afterAll(async () => {
    await t?.close();
    expect(t?.faults ?? []).toEqual([]);
  });

  it('POST /api/runs with `after`: an unknown id is a 400 naming it; a known one holds the run until it succeeds', async () => {
    const { run: first } = await t.engine.startRun({ workflow: 'demo.approval', input: { request: 'first' } });
    const missing = randomUUID();
    const refused = await fetch(`${t.base}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'demo.sleep', input: { ms: 0 }, after: [first.id, missing] }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ data: { field: 'after[1]' } });

    const { run } = await t.client.runs.create({ workflow: 'demo.sleep', input: { ms: 0 }, after: [first.id] });
    expect(run).toMatchObject({ status: 'queued', after: [first.id], parentRunId: null });
    await waitForEvent(t.runtime, first.id, 'run.waiting');
    await t.client.runs.signal({ id: first.id, name: 'approval', data: { approved: true, by: 'ana' } });
    expect((await waitForStatus(t.runtime, run.id)).status).toBe('succeeded');

    // Nothing started children here; a child signal cannot be forged.
    expect((await t.client.runs.children({ id: first.id })).runs).toEqual([]);
    const [forged] = await safe(t.client.runs.signal({ id: run.id, name: `child:${first.id}`, data: null }));
    expect(isDefinedError(forged) && forged.code).toBe('BAD_REQUEST');
  });
});
