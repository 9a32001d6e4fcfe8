import { isDefinedError, safe } from '@orpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/index.js';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ backend: 'postgres', worker: false });
});
afterAll(async () => {
  await t?.close();
});

async function request(method: string, path: string, body?: unknown) {
  const response = await fetch(`${t.base}${path}`, {
    method,
    // Every write is JSON, bodiless ones included (the server refuses others).
    headers: method === 'GET' ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const nightly = { id: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', workflow: 'demo.countdown', input: { count: 1 } };

describe('schedule routes', () => {
  it('create (201, next 5 fire times), list, get, pause, resume, delete over REST', async () => {
    const created = await request('POST', '/api/schedules', { ...nightly, catchUp: 3 });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'nightly', enabled: true, catchUp: 3, source: 'api' });
    const times = (created.json.nextFireTimes as string[]).map((at) => new Date(at).getTime());
    expect(times).toHaveLength(5);
    // 02:00 in Paris each day: a day apart, or 23 or 25 hours across a DST change.
    for (let i = 1; i < times.length; i++) expect([23, 24, 25]).toContain((times[i]! - times[i - 1]!) / 3_600_000);

    expect((await request('GET', '/api/schedules')).json).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'nightly' })]));
    expect((await request('GET', '/api/schedules/nightly')).json).toMatchObject({ id: 'nightly', cron: '0 2 * * *' });
    expect((await request('POST', '/api/schedules/nightly/pause')).json).toMatchObject({ enabled: false, nextFireTimes: [] });
    const resumed = await request('POST', '/api/schedules/nightly/resume');
    expect(resumed.json).toMatchObject({ enabled: true });
    expect(resumed.json.nextFireTimes).toHaveLength(5);
    expect(await request('DELETE', '/api/schedules/nightly')).toEqual({ status: 200, json: { id: 'nightly', deleted: true } });
    expect(await request('GET', '/api/schedules/nightly')).toMatchObject({ status: 404, json: { code: 'NOT_FOUND', data: { id: 'nightly' } } });
    expect((await request('POST', '/api/schedules/nightly/pause')).status).toBe(404);
  });

  it.each([
    ['cron', { cron: '0 25 * * *' }],
    ['cron', { cron: 'nightly' }],
    ['timezone', { timezone: 'Europe/Atlantis' }],
    ['workflow', { workflow: 'no.such.workflow' }],
    ['input.count', { input: { count: 'many' } }],
    ['catchUp', { catchUp: -1 }],
    ['id', { id: 'has spaces' }],
  ])('a bad %s is a 400 naming it and creates nothing', async (field, change) => {
    const refused = await request('POST', '/api/schedules', { ...nightly, id: 'refused', ...change });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ code: 'BAD_REQUEST', data: { field } });
    expect((await t.client.schedules.list()).map((schedule) => schedule.id)).not.toContain('refused');
  });

  it('a second create with the same id is 409 SCHEDULE_EXISTS over RPC, and changes nothing', async () => {
    await t.client.schedules.create({ ...nightly, id: 'twice' });
    const [error] = await safe(t.client.schedules.create({ ...nightly, id: 'twice', cron: '0 3 * * *' }));
    expect(isDefinedError(error) && error.code).toBe('SCHEDULE_EXISTS');
    expect(await t.client.schedules.get({ id: 'twice' })).toMatchObject({ cron: '0 2 * * *' });
    await t.client.schedules.delete({ id: 'twice' });
  });

  it('the OpenAPI document lists the schedule routes', async () => {
    const document = (await request('GET', '/api/openapi.json')).json as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(document.paths['/schedules']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(document.paths['/schedules/{id}']!).sort()).toEqual(['delete', 'get']);
    expect(document.paths['/schedules/{id}/pause']).toHaveProperty('post');
    expect(document.paths['/schedules/{id}/resume']).toHaveProperty('post');
  });
});
