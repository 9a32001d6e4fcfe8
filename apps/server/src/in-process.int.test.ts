import { createBullQueue } from '@runstream/queue';
import { createTestDatabase, testServices, type TestDatabase } from '@runstream/testkit';
import { createServer as createNetServer, type Server } from 'node:net';
import { systemClock } from '@runstream/domain';
import { connectStore, type StoreConnection } from '@runstream/store';
import { countSessions } from '@runstream/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { api, poll } from './testing/server-process.js';

let database: TestDatabase;
let probe: StoreConnection;
const logger = createLogger('silent');
const { redisUrl } = testServices();

beforeAll(async () => {
  database = await createTestDatabase();
  probe = connectStore({ databaseUrl: database.url, poolSize: 1, clock: systemClock });
});

afterAll(async () => {
  const queue = createBullQueue({ namespace: database.name, connection: { backend: 'redis', redisUrl } });
  await queue.obliterate();
  await queue.close();
  await probe?.close();
  await database?.drop();
});

function config(env: Record<string, string>) {
  const frugal = { DATABASE_POOL_SIZE: '3', WORKER_CONCURRENCY: '2' }; // test files share one PostgreSQL
  return { ...parseConfig({ DATABASE_URL: database.url, RUNSTREAM_NAMESPACE: database.name, ...frugal, ...env }), port: 0 };
}

describe('startServer in-process', () => {
  it('runs an api node and a worker node side by side in one process on the Redis backend (nothing shared)', async () => {
    const apiNode = await startServer(config({ RUNSTREAM_ROLE: 'api', REDIS_URL: redisUrl }), { logger });
    const workerNode = await startServer(config({ RUNSTREAM_ROLE: 'worker', REDIS_URL: redisUrl }), { logger });
    try {
      const ready = await api<{ checks: { queue: { backend: string } } }>(`${apiNode.url}/health/ready`);
      expect(ready).toMatchObject({ status: 200, body: { checks: { queue: { backend: 'redis' } } } });

      const created = await api<{ run: { id: string } }>(`${apiNode.url}/api/runs`, {
        body: { workflow: 'demo.tokens', input: { text: 'one two three', intervalMs: 1 } },
      });
      expect(created.status).toBe(201);
      const id = created.body.run.id;
      const run = await poll(async () => {
        const { body } = await api<{ status: string; output: unknown }>(`${apiNode.url}/api/runs/${id}`);
        return body.status === 'succeeded' ? body : undefined;
      }, `run ${id} to succeed`);
      expect(run.output).toEqual({ text: 'one two three', words: 3 });

      const { body } = await api<{ events: { type: string; data: { workerId?: string } }[] }>(`${apiNode.url}/api/runs/${id}/events`);
      expect(body.events.find((event) => event.type === 'run.started')?.data.workerId).toBe(workerNode.instanceId);
    } finally {
      await Promise.all([apiNode.close(), workerNode.close()]);
    }
    // close() is idempotent and released the runtime: no connection of this namespace is left.
    await apiNode.close();
    expect(await countSessions(probe.store, `runstream:${database.name}`)).toBe(0);
  });

  it('fails to start with a clear error when PORT is taken, releasing what it had built', async () => {
    const blocker: Server = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      await expect(startServer({ ...config({}), port }, { logger })).rejects.toThrow(
        `PORT ${port} is already in use on 127.0.0.1: stop what holds it, or set PORT`,
      );
      expect(await countSessions(probe.store, `runstream:${database.name}`)).toBe(0);
    } finally {
      blocker.close();
    }
  });
});
