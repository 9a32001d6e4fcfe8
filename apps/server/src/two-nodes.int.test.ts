import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, exitOf, freePort, poll, readSse, startServerProcess, type ServerProcess } from './testing/server-process.js';

const token = 'test-token-0123456789abcdef';

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

async function start(role: 'api' | 'worker') {
  const node = await startServerProcess({
    DATABASE_URL: database.url,
    RUNSTREAM_NAMESPACE: database.name,
    RUNSTREAM_ROLE: role,
    RUNSTREAM_API_TOKEN: token,
    RUNSTREAM_READ_TOKEN_SECRET: 'a-shared-secret-of-at-least-32-characters',
    PORT: String(await freePort()),
  });
  started.push(node.server);
  return node;
}

describe('an api node and a worker node on one PostgreSQL', () => {
  it('executes on the worker a run created through the api node, and streams its events through the api node', async () => {
    const [apiNode, workerNode] = await Promise.all([start('api'), start('worker')]);

    // The worker serves no API, only health and metrics.
    expect((await fetch(`${workerNode.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${workerNode.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${workerNode.url}/api/runs`)).status).toBe(404);
    expect((await fetch(`${workerNode.url}/metrics`)).status).toBe(401);

    // With tokens configured, the API wants one.
    expect((await api(`${apiNode.url}/api/runs`, { body: { workflow: 'demo.countdown', input: { count: 1 } } })).status).toBe(401);

    const created = await api<{ run: { id: string } }>(`${apiNode.url}/api/runs`, {
      token,
      body: { workflow: 'demo.countdown', input: { count: 3, intervalMs: 20 } },
    });
    expect(created.status).toBe(201);
    const id = created.body.run.id;

    const response = await fetch(`${apiNode.url}/api/runs/${id}/stream`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: { seq: number; type: string; data: Record<string, unknown> }[] = [];
    let done: { status: string; lastSeq: number } | undefined;
    for await (const event of readSse(response)) {
      if (event.event === 'message') events.push(JSON.parse(event.data));
      else if (event.event === 'done') {
        done = JSON.parse(event.data);
        break;
      } else throw new Error(`unexpected SSE event ${event.event}: ${event.data}`);
    }

    expect(done).toEqual({ status: 'succeeded', lastSeq: events.length });
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    expect(events[0]?.type).toBe('run.created');
    expect(events.at(-1)?.type).toBe('run.succeeded');
    // The worker node ran it: the api node has no worker.
    const startedEvent = events.find((event) => event.type === 'run.started');
    expect(startedEvent?.data.workerId).toBe(workerNode.instanceId);

    const instances = await api<{ id: string; status: string }[]>(`${apiNode.url}/api/instances`, { token });
    expect(instances.body).toEqual([expect.objectContaining({ id: workerNode.instanceId, status: 'alive' })]);

    // The run's histograms are where it ran: on the worker's /metrics, not the api node's.
    const runCount = 'runstream_run_duration_seconds_count{workflow="demo.countdown",status="succeeded"} 1';
    const metricsOf = async (url: string) =>
      (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    await poll(async () => ((await metricsOf(workerNode.url)).includes(runCount) ? true : undefined), 'the worker to count the run');
    expect(await metricsOf(workerNode.url)).toContain('runstream_step_duration_seconds_count{workflow="demo.countdown",outcome="completed"} 3');
    expect(await metricsOf(apiNode.url)).not.toContain('runstream_run_duration_seconds_count{');

    workerNode.server.signal('SIGTERM');
    apiNode.server.signal('SIGTERM');
    expect(await exitOf(workerNode.server)).toEqual({ code: 0, signal: null });
    expect(await exitOf(apiNode.server)).toEqual({ code: 0, signal: null });
    const after = await api<{ id: string; status: string }[]>(`${apiNode.url}/api/instances`, { token }).catch((error) => error);
    expect(after).toBeInstanceOf(Error); // nothing listens any more
  });
});
