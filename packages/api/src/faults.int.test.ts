/**
 * Fault injection: Runstream's connections to PostgreSQL and Redis go through TCP fault proxies the test drives,
 * with runs streaming to real SSE clients. Whatever the fault, every run reaches its terminal state with dense
 * seqs and each step completed once, every SSE client ends with exactly 1..N, and an outage is answered with 503
 * while it lasts.
 *
 * Two nodes share one database and namespace: `proxied` (API, drainer, worker) reaches PostgreSQL and Redis only
 * through its proxies; `direct` (drainer, worker, started by the lease scenario) reaches PostgreSQL directly and
 * Redis through a proxy of its own.
 */
import { isTerminal, type RunEvent } from '@runstream/domain';
import { createEngine, defineWorkflow, type Engine } from '@runstream/engine';
import { createBullQueue, type JobQueue } from '@runstream/queue';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { createTestDatabase, startFaultProxy, testServices, waitUntil, type FaultProxy, type TestDatabase } from '@runstream/testkit';
import { EventSource } from 'eventsource';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApiServer, type ApiServer } from './index.js';

const LEASE_MS = 1_500;

/** Which node ran each step attempt, and gates a test may hold a node's first step on (`gateNode`, default proxied). */
const executions: { node: string; runId: string; step: string }[] = [];
const gates = new Map<string, Promise<void>>();

function stepsWorkflow(node: string) {
  return defineWorkflow({
    name: 'faults.steps',
    input: z.object({ steps: z.number().int().min(1), gate: z.string().optional(), gateNode: z.string().default('proxied') }),
    // No retries: an outage is not the step's failure, so no fault in these scenarios may cost a step an attempt.
    retries: 0,
    async run(ctx, { steps, gate, gateNode }) {
      for (let i = 1; i <= steps; i++) {
        await ctx.step(`s${i}`, async () => {
          executions.push({ node, runId: ctx.runId, step: `s${i}` });
          if (gate && i === 1 && node === gateNode) await gates.get(gate);
          return { node };
        });
      }
      return { steps };
    },
  });
}

interface Node {
  runtime: Runtime;
  queue: JobQueue;
  engine: Engine;
  close(): Promise<void>;
}

async function startNode(name: string, databaseUrl: string, redisUrl: string, namespace: string, worker: boolean): Promise<Node> {
  const runtime = await createRuntime({ namespace, databaseUrl, poolSize: 4, drainer: { pollIntervalMs: 100 }, onError: () => {} });
  const queue = createBullQueue({ namespace, connection: { backend: 'redis', redisUrl }, workerCloseTimeoutMs: 2_000 });
  const engine = createEngine({
    runtime,
    queue,
    workflows: [stepsWorkflow(name)],
    leaseMs: LEASE_MS,
    sweepIntervalMs: 250,
    shutdownGraceMs: 500,
    instanceId: name,
    onError: () => {},
  });
  runtime.start();
  if (worker) await engine.startWorker();
  return {
    runtime,
    queue,
    engine,
    async close() {
      await engine.close();
      await runtime.close();
    },
  };
}

let database: TestDatabase;
let pg: FaultProxy;
let redis: FaultProxy;
let directRedis: FaultProxy;
let proxied: Node;
let direct: Node | undefined;
let api: ApiServer;
let server: Server;
let base: string;
let redisUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const pgUrl = new URL(database.url);
  redisUrl = testServices().redisUrl;
  const redisTarget = new URL(redisUrl);
  pg = await startFaultProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  redis = await startFaultProxy({ host: redisTarget.hostname, port: Number(redisTarget.port || 6379) });
  directRedis = await startFaultProxy({ host: redisTarget.hostname, port: Number(redisTarget.port || 6379) });
  proxied = await startNode('proxied', pg.urlThrough(database.url), redis.urlThrough(redisUrl), database.name, true);
  api = createApiServer({
    runtime: proxied.runtime,
    engine: proxied.engine,
    queue: proxied.queue,
    auth: { tokens: [], readTokenSecret: 'fault-injection-secret-0123456789' },
    logger: { error: () => {}, warn: () => {} },
    runStream: { retryMs: 20, recheckMs: 250 },
    checkTimeoutMs: 500,
    maxConcurrentStreamReads: 2,
  });
  server = createServer((req, res) => void api.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

/** Each scenario ends its faults itself; this only keeps one that failed midway from breaking the next. */
function healAll(): void {
  for (const proxy of [pg, redis, directRedis]) {
    proxy?.accept();
    proxy?.resume();
  }
}
afterEach(healAll);

afterAll(async () => {
  healAll();
  await api?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await direct?.close();
  await proxied?.close();
  const cleanup = createBullQueue({ namespace: database.name, connection: { backend: 'redis', redisUrl } });
  await cleanup.obliterate();
  await cleanup.close();
  await pg?.close();
  await redis?.close();
  await directRedis?.close();
  await database?.drop();
});

/** A reader that never goes through the proxies, for facts and final checks. */
let observer: Runtime | undefined;
async function facts(): Promise<Runtime> {
  observer ??= await createRuntime({ namespace: `${database.name}_observer`, databaseUrl: database.url, poolSize: 2, onError: () => {} });
  return observer;
}
afterAll(async () => {
  await observer?.close();
});

interface Follower {
  runId: string;
  seqs: number[];
  /** SSE `error` events the server sent with status 503 (an outage, reported on the stream). */
  unavailable: number;
  done: Promise<{ status: string; lastSeq: number }>;
  close(): void;
}

/**
 * Follows a run's stream like a browser page: EventSource resumes with Last-Event-ID by itself; when it gives
 * up (an HTTP error on reconnect, e.g. 503 during an outage) the stream is reopened from the next seq.
 */
function follow(runId: string): Follower {
  const follower: Follower = { runId, seqs: [], unavailable: 0, done: Promise.resolve({ status: '', lastSeq: 0 }), close: () => {} };
  let current: EventSource | undefined;
  let closed = false;
  follower.done = new Promise((resolve) => {
    const open = () => {
      if (closed) return;
      const next = (follower.seqs.at(-1) ?? 0) + 1;
      const es = new EventSource(`${base}/api/runs/${runId}/stream?fromSeq=${next}`);
      current = es;
      es.onmessage = (event) => follower.seqs.push(Number(event.lastEventId));
      es.addEventListener('done', (event) => {
        closed = true;
        es.close();
        resolve(JSON.parse(event.data));
      });
      es.addEventListener('error', (event) => {
        const data = (event as MessageEvent).data;
        if (typeof data === 'string' && data !== '' && (JSON.parse(data) as { status?: number }).status === 503) follower.unavailable++;
        if (es.readyState === es.CLOSED) setTimeout(open, 20);
      });
    };
    open();
  });
  follower.close = () => {
    closed = true;
    current?.close();
  };
  return follower;
}

async function startRuns(count: number, input: Record<string, unknown>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${base}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'faults.steps', input }),
    });
    expect(response.status).toBe(201);
    ids.push(((await response.json()) as { run: { id: string } }).run.id);
  }
  return ids;
}

/** Every run succeeded, seqs dense, each step completed exactly once. Returns the final statuses. */
async function expectIntact(runIds: string[], steps: number): Promise<Map<string, string>> {
  const runtime = await facts();
  const statuses = new Map<string, string>();
  for (const runId of runIds) {
    const run = await waitUntil(
      runtime,
      async () => {
        const found = await runtime.runs.get(runId);
        return found && isTerminal(found.status) ? found : undefined;
      },
      async () => `run ${runId} to end: ${JSON.stringify(await runtime.runs.get(runId))} ${JSON.stringify((await runtime.eventLog.read(runId)).map((e) => e.type))} ${JSON.stringify(executions.filter((e) => e.runId === runId))}`,
      { timeoutMs: 30_000, recheckMs: 100 },
    );
    statuses.set(runId, run.status);
    const events: RunEvent[] = await runtime.eventLog.read(runId, { limit: 1_000 });
    expect(events.map((event) => event.seq)).toEqual(range(run.lastSeq));
    expect(events.filter((event) => event.type === 'step.failed')).toEqual([]);
    expect(run.status).toBe('succeeded');
    const completed = events.filter((event) => event.type === 'step.completed').map((event) => (event.data as { step: string }).step);
    expect(completed).toEqual(range(steps).map((i) => `s${i}`));
  }
  return statuses;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Every SSE client got exactly 1..N and the run's final status. */
async function expectFollowersIntact(followers: Follower[], statuses: Map<string, string>): Promise<void> {
  for (const follower of followers) {
    const end = await follower.done;
    expect(end.status).toBe(statuses.get(follower.runId));
    expect(follower.seqs).toEqual(range(end.lastSeq));
  }
}

/** An API call during the outage: 503, a stable code, Retry-After. */
async function expectUnavailable(path: string): Promise<void> {
  const response = await fetch(`${base}${path}`);
  const body = (await response.json()) as { code?: string };
  expect({ status: response.status, code: body.code, retryAfter: response.headers.get('retry-after') }).toEqual({
    status: 503,
    code: 'DEPENDENCY_UNAVAILABLE',
    retryAfter: '1',
  });
}

async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  // Just under the test timeout, as the suite's other fact waits: a loaded machine may take long, never forever.
  const deadline = Date.now() + 55_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('fault injection', () => {
  it('PostgreSQL cut mid-append and mid-stream: 503 while it lasts, then every run and stream completes', async () => {
    let release!: () => void;
    gates.set('pg-cut', new Promise<void>((resolve) => (release = resolve)));
    const runIds = await startRuns(4, { steps: 3, gate: 'pg-cut' });
    const followers = runIds.map(follow);
    // Mid-stream: each client has run.created; mid-append: the steps are in flight, held on their gate.
    await until(() => followers.every((f) => f.seqs.length >= 1), 'every stream to be open');
    await until(() => runIds.every((id) => executions.some((e) => e.runId === id)), 'every run to be in its first step');
    pg.refuse();
    pg.cut();
    release();
    await expectUnavailable(`/api/runs/${runIds[0]}`);
    await expectUnavailable(`/api/runs?limit=1`);
    await until(() => followers.every((f) => f.unavailable > 0), 'every stream to report the outage');
    pg.accept();
    const statuses = await expectIntact(runIds, 3);
    await expectFollowersIntact(followers, statuses);
  });

  it('PostgreSQL stalled longer than the lease: another worker takes over and the stalled worker’s late append is fenced', async () => {
    let release!: () => void;
    gates.set('stall', new Promise<void>((resolve) => (release = resolve)));
    const [runId] = await startRuns(1, { steps: 2, gate: 'stall' });
    const follower = follow(runId!);
    await until(() => executions.some((e) => e.runId === runId && e.node === 'proxied'), 'the proxied worker to run s1');
    // The proxied node is partitioned while its step is in flight: its PostgreSQL connections hang, Redis refuses
    // it (so it cannot take the run back through the queue either).
    pg.stall();
    redis.refuse();
    redis.cut();
    // The direct worker starts now: it can only get the run once the proxied worker's lease has expired.
    direct = await startNode('direct', database.url, directRedis.urlThrough(redisUrl), database.name, true);
    const runtime = await facts();
    await waitUntil(
      runtime,
      async () => ((await runtime.runs.get(runId!))?.status === 'succeeded' ? true : undefined),
      async () => `the direct worker to finish the run: ${JSON.stringify(await runtime.runs.get(runId!))} ${JSON.stringify((await runtime.eventLog.read(runId!)).map((e) => e.type))} ${JSON.stringify(executions.filter((e) => e.runId === runId))}`,
      { timeoutMs: 30_000, recheckMs: 100 },
    );
    // The stalled worker's step now finishes: its execution gave the run up when its lease ran out, and what it
    // had in flight (a lease renewal) reaches PostgreSQL under the old token: fenced, so nothing changes.
    release();
    pg.resume();
    redis.accept();
    const before = (await runtime.runs.get(runId!))!.lastSeq;
    await until(async () => (await proxied.runtime.runs.get(runId!)) !== null, 'the proxied node to reach PostgreSQL again');
    const events = await runtime.eventLog.read(runId!, { limit: 1_000 });
    const s1 = events.filter((e) => e.type === 'step.completed' && (e.data as { step: string }).step === 's1');
    expect(s1).toHaveLength(1);
    expect((s1[0]!.data as { output: unknown }).output).toEqual({ node: 'direct' });
    const statuses = await expectIntact([runId!], 2);
    expect((await runtime.runs.get(runId!))!.lastSeq).toBe(before);
    await expectFollowersIntact([follower], statuses);
  });

  it('PostgreSQL stalled longer than the lease, Redis still up: the stalled node gives its jobs back and another worker finishes the run', async () => {
    // The direct node is kept off the queue until the proxied one has the run's first step in flight.
    directRedis.refuse();
    directRedis.cut();
    let release!: () => void;
    gates.set('stall-redis-up', new Promise<void>((resolve) => (release = resolve)));
    const [runId] = await startRuns(1, { steps: 2, gate: 'stall-redis-up' });
    const follower = follow(runId!);
    await until(() => executions.some((e) => e.runId === runId && e.node === 'proxied'), 'the proxied worker to run s1');
    // Cut off from PostgreSQL only: the proxied node still takes jobs from Redis, this run's recovery jobs included.
    pg.stall();
    directRedis.accept();
    const runtime = await facts();
    await waitUntil(
      runtime,
      async () => ((await runtime.runs.get(runId!))?.status === 'succeeded' ? true : undefined),
      async () => `the direct worker to finish the run: ${JSON.stringify(await runtime.runs.get(runId!))} ${JSON.stringify((await runtime.eventLog.read(runId!)).map((e) => e.type))} ${JSON.stringify(executions.filter((e) => e.runId === runId))}`,
      { timeoutMs: 30_000, recheckMs: 100 },
    );
    // Still stalled, the proxied node holds no execution: the one stuck in s1 stopped when its lease ran out.
    await until(() => proxied.engine.load() === 0, 'the stalled node to let its execution go');
    release();
    pg.resume();
    const before = (await runtime.runs.get(runId!))!.lastSeq;
    await until(async () => (await proxied.runtime.runs.get(runId!)) !== null, 'the proxied node to reach PostgreSQL again');
    const events = await runtime.eventLog.read(runId!, { limit: 1_000 });
    const s1 = events.filter((e) => e.type === 'step.completed' && (e.data as { step: string }).step === 's1');
    expect(s1.map((e) => e.data as { output: unknown }).map((data) => data.output)).toEqual([{ node: 'direct' }]);
    const statuses = await expectIntact([runId!], 2);
    expect((await runtime.runs.get(runId!))!.lastSeq).toBe(before);
    await expectFollowersIntact([follower], statuses);
  });

  it('Redis cut during dispatch: reported by readiness while it lasts, then every run completes', async () => {
    for (const proxy of [redis, directRedis]) {
      proxy.refuse();
      proxy.cut();
    }
    const runIds = await startRuns(3, { steps: 2 });
    const followers = runIds.map(follow);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('1');
    redis.accept();
    directRedis.accept();
    const statuses = await expectIntact(runIds, 2);
    await expectFollowersIntact(followers, statuses);
  });

  it('the LISTEN connection cut while appends continue: every stream still ends with 1..N', async () => {
    // The API node streams; the direct node executes (the proxied one cannot take jobs while Redis refuses it).
    redis.refuse();
    redis.cut();
    let release!: () => void;
    gates.set('listen', new Promise<void>((resolve) => (release = resolve)));
    const runIds = await startRuns(3, { steps: 4, gate: 'listen', gateNode: 'direct' });
    const followers = runIds.map(follow);
    await until(() => followers.every((f) => f.seqs.length >= 1), 'every stream to be open');
    await until(() => runIds.every((id) => executions.some((e) => e.runId === id && e.node === 'direct')), 'the direct node to run every run');
    // Cuts the API node's LISTEN connection (and its idle pool) while the direct node appends the rest.
    pg.cut();
    release();
    const statuses = await expectIntact(runIds, 4);
    await expectFollowersIntact(followers, statuses);
    redis.accept();
  });
});
