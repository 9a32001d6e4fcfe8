import { systemClock } from '@runstream/domain';
import { connectStore, type StoreConnection } from '@runstream/store';
import { createTestDatabase, testServices, type TestDatabase } from '@runstream/testkit';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  exitOf,
  freePort,
  poll,
  readSse,
  spawnServer,
  startServerProcess,
  type ServerProcess,
} from './testing/server-process.js';

interface Run {
  id: string;
  status: string;
  lastSeq: number;
  output: unknown;
  steps?: { name: string; status: string }[];
}

const terminal = new Set(['succeeded', 'failed', 'cancelled']);

let database: TestDatabase;
let probe: StoreConnection;
const started: ServerProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  probe = connectStore({ databaseUrl: database.url, poolSize: 2, clock: systemClock });
});

afterAll(async () => {
  for (const server of started) server.signal('SIGKILL');
  await Promise.all(started.map((server) => server.exited));
  await probe?.close();
  await database?.drop();
});

/** One server on this file's database, with the PostgreSQL queue backend (no REDIS_URL) in its own namespace. */
async function start(env: Record<string, string> = {}) {
  const node = await startServerProcess({
    DATABASE_URL: database.url,
    RUNSTREAM_NAMESPACE: database.name,
    PORT: String(await freePort()),
    ...env,
  });
  started.push(node.server);
  return node;
}

function waitForRun(url: string, id: string, until: (run: Run) => boolean, describe: string, token?: string) {
  return poll(async () => {
    const { status, body } = await api<Run>(`${url}/api/runs/${id}`, { ...(token ? { token } : {}) });
    expect(status).toBe(200);
    return until(body) ? body : undefined;
  }, `run ${id} to be ${describe}`);
}

describe('server process (role all, PostgreSQL queue backend)', () => {
  it('runs a workflow to completion, logs JSON, and on SIGTERM exits 0 with its instance stopped', async () => {
    const { server, url, instanceId, ready } = await start();
    expect(ready).toMatchObject({ role: 'all', queue: 'postgres', namespace: database.name });
    expect(server.logs.some((line) => /authentication is OFF/.test(line.msg))).toBe(true);

    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    const health = await api<{ status: string; checks: { queue: { backend: string } } }>(`${url}/health/ready`);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', checks: { queue: { backend: 'postgres' } } } });

    const created = await api<{ run: Run; created: boolean }>(`${url}/api/runs`, {
      body: { workflow: 'demo.countdown', input: { count: 3, intervalMs: 20 } },
    });
    expect(created.status).toBe(201);
    expect(created.body.created).toBe(true);

    const run = await waitForRun(url, created.body.run.id, (r) => terminal.has(r.status), 'terminal');
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ done: true });
    expect(run.steps?.map((step) => step.status)).toEqual(['completed', 'completed', 'completed']);

    server.signal('SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    const instance = (await probe.store.instances.list()).find((row) => row.id === instanceId);
    expect(instance?.status).toBe('stopped');

    // Every stdout line is a pino JSON record, the shutdown included.
    expect(server.logs.filter((line) => line.level === 'unparsed')).toEqual([]);
    expect(server.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
  });

  it('on SIGTERM mid-run ends open streams, exits 0, and hands the run off to the next server, which finishes it', async () => {
    const first = await start();
    // Slow ticks, so the run is certainly still going when the server stops (and the handoff is what finishes it).
    const { body } = await api<{ run: Run }>(`${first.url}/api/runs`, {
      body: { workflow: 'demo.countdown', input: { count: 8, intervalMs: 700 } },
    });
    const id = body.run.id;

    // Follow the run's stream until the first tick is through, then stop the server under it.
    const response = await fetch(`${first.url}/api/runs/${id}/stream`);
    expect(response.status).toBe(200);
    const events = readSse(response)[Symbol.asyncIterator]();
    for (;;) {
      const next = await events.next();
      if (next.done) throw new Error('the stream ended early');
      if (next.value.event === 'message' && (JSON.parse(next.value.data) as { type: string }).type === 'step.completed') break;
    }
    // The server ends the stream itself when it shuts down.
    const streamEnded = (async () => {
      try {
        while (!(await events.next()).done) {
          // drain what is left
        }
      } catch {
        // a cut connection ends it too
      }
      return true;
    })();

    first.server.signal('SIGTERM');
    expect(await exitOf(first.server)).toEqual({ code: 0, signal: null });
    expect(await streamEnded).toBe(true);

    const handedOff = await probe.store.runs.get(id);
    expect(['queued', 'running']).toContain(handedOff?.status);

    const second = await start();
    const run = await waitForRun(second.url, id, (r) => terminal.has(r.status), 'terminal on the second server');
    expect(run.status).toBe('succeeded');
    expect(run.steps).toHaveLength(8);
    second.server.signal('SIGTERM');
    expect(await exitOf(second.server)).toEqual({ code: 0, signal: null });
  });

  it('exits 2 naming the variable when the configuration is bad', async () => {
    const badPort = spawnServer({ PORT: 'abc' });
    started.push(badPort);
    expect(await exitOf(badPort)).toEqual({ code: 2, signal: null });
    expect(badPort.raw()).toContain('PORT must be an integer between 1 and 65535, got "abc"');

    const openHost = spawnServer({ HOST: '0.0.0.0', DATABASE_URL: database.url });
    started.push(openHost);
    expect(await exitOf(openHost)).toEqual({ code: 2, signal: null });
    expect(openHost.raw()).toMatch(/HOST "0\.0\.0\.0" is not a loopback address, and RUNSTREAM_API_TOKEN is not set/);
  });
});

/** A TCP forwarder to `target` on `port`, which the test opens and cuts: Redis as the server sees it. */
async function forward(port: number, target: URL): Promise<{ cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createNetServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

describe('an unreachable Redis (REDIS_URL)', () => {
  const env = async (redisUrl: string, timeoutMs: number) => ({
    DATABASE_URL: database.url,
    RUNSTREAM_NAMESPACE: database.name,
    PORT: String(await freePort()),
    REDIS_URL: redisUrl,
    RUNSTREAM_STARTUP_TIMEOUT_MS: String(timeoutMs),
  });
  const isDown = (line: { msg: string }) => line.msg === 'Redis is unreachable';
  const isUp = (line: { msg: string }) => line.msg === 'Redis is reachable';

  it('stops startup after RUNSTREAM_STARTUP_TIMEOUT_MS: exit 1, one fatal JSON line, one line for the outage, no raw traces', async () => {
    const node = spawnServer(await env('redis://127.0.0.1:1', 2_000));
    started.push(node);
    expect(await exitOf(node, 25_000)).toEqual({ code: 1, signal: null });
    const fatal = node.logs.filter((line) => line.level === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/^startup failed: Redis \(redis:\/\/127\.0\.0\.1:1\/?\) did not answer within 2000 ms/);
    // ioredis retried many times meanwhile: one line says it is down, with the reason.
    expect(node.logs.filter(isDown)).toEqual([expect.objectContaining({ level: 'error', error: expect.stringContaining('ECONNREFUSED') })]);
    expect(node.logs.filter((line) => line.level === 'unparsed')).toEqual([]);
    expect(node.raw()).not.toMatch(/^\s+at /m);
  });

  it('ends on SIGTERM while startup waits for it (exit 0)', async () => {
    const node = spawnServer(await env('redis://127.0.0.1:1', 600_000));
    started.push(node);
    await node.waitForLog(isDown);
    node.signal('SIGTERM');
    expect(await exitOf(node, 15_000)).toEqual({ code: 0, signal: null });
    expect(node.raw()).not.toMatch(/^\s+at /m);
  });

  it('logs one line per change when it comes, goes and comes back', async () => {
    const port = await freePort();
    const target = new URL(testServices().redisUrl);
    const node = spawnServer(await env(`redis://127.0.0.1:${port}`, 600_000));
    started.push(node);
    await node.waitForLog(isDown);
    let redis = await forward(port, target);
    await node.waitForLog((line) => /node ready$/.test(line.msg));
    expect(node.logs.filter(isUp)).toHaveLength(1);

    await redis.cut();
    await node.waitForLog(() => node.logs.filter(isDown).length === 2);
    redis = await forward(port, target);
    await node.waitForLog(() => node.logs.filter(isUp).length === 2);
    // Back in service: a run goes through the queue to completion.
    const url = (node.logs.find((line) => /node ready$/.test(line.msg))!.url as string);
    const created = await api<{ run: Run }>(`${url}/api/runs`, { body: { workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } } });
    expect(created.status).toBe(201);
    expect((await waitForRun(url, created.body.run.id, (r) => terminal.has(r.status), 'terminal')).status).toBe('succeeded');
    expect(node.logs.filter(isDown)).toHaveLength(2);
    expect(node.logs.filter((line) => line.level === 'unparsed')).toEqual([]);

    node.signal('SIGTERM');
    expect(await exitOf(node)).toEqual({ code: 0, signal: null });
    await redis.cut();
  });
});
