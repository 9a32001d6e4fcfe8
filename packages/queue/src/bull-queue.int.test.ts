import { createTestDatabase, testBackends, type TestDatabase } from '@runstream/testkit';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createBullQueue } from './bull-queue.js';
import type { JobQueue, RunJob } from './job-queue.js';

// Closing the queue while something still enqueues (the outbox drainer dispatching during engine shutdown).
// On the PostgreSQL backend BullMQ's add never settled once the queue was closed, which hung the drainer's
// pass and with it the runtime's close.
describe.each(testBackends)('bull queue on %s', (backend) => {
  let database: TestDatabase | undefined;
  afterEach(() => database?.drop());

  async function open(): Promise<JobQueue> {
    database = await createTestDatabase();
    return createBullQueue({
      namespace: database.name,
      connection:
        backend === 'redis'
          ? { backend, redisUrl: inject('runstreamTest').redisUrl }
          : { backend, databaseUrl: database.url },
    });
  }

  it('settles an enqueue racing close, and refuses one after close', async () => {
    const queue = await open();
    await queue.enqueue({ runId: 'a', reason: 'start' }, { jobId: 'a-1' });
    const racing = queue.enqueue({ runId: 'b', reason: 'start' }, { jobId: 'b-1' });
    await queue.close();
    await expect(racing).resolves.toBeUndefined();
    await expect(queue.enqueue({ runId: 'c', reason: 'start' }, { jobId: 'c-1' })).rejects.toThrow(/is closed/);
  }, 20_000);

  it("carries a job's trace context to the worker's handler", async () => {
    const queue = await open();
    const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'rojo=1' };
    const handled = new Promise<RunJob>((resolve) => void queue.startWorker(async (job) => resolve(job), 1));
    await queue.enqueue({ runId: 'a', reason: 'start', trace }, { jobId: 'a-1' });
    await expect(handled).resolves.toEqual({ runId: 'a', reason: 'start', trace });
    await queue.close();
  }, 20_000);
});
