import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, expireLease, leaseOf, type TestStore } from './testing/index.js';

let runtime: TestStore;
beforeAll(async () => {
  runtime = await createTestStore();
});
afterAll(() => runtime?.close());

const started = { type: 'run.started', data: { attempt: 1, workerId: 'w1' } } as const;
const acquire = (runId: string, owner: string, concurrency?: number) =>
  runtime.store.leases.acquire(runId, owner, { leaseMs: 60_000, ...(concurrency === undefined ? {} : { concurrency }) });

describe.each([
  ['without a concurrency limit (one statement)', undefined],
  ['under a concurrency limit', 10],
])('acquire %s', (_name, concurrency) => {
  it('takes a free lease with the next token, refuses a held one, and takes an expired one over', async () => {
    const run = await runtime.createRun('leases', {});
    const first = await acquire(run.id, 'w1', concurrency);
    expect(first).toEqual({ kind: 'acquired', token: 1 });
    expect(await acquire(run.id, 'w2', concurrency)).toEqual({ kind: 'held' });
    expect((await leaseOf(runtime.store, run.id)).owner).toBe('w1');
    await expireLease(runtime.store, run.id);
    expect(await acquire(run.id, 'w2', concurrency)).toEqual({ kind: 'acquired', token: 2 });
    expect(await leaseOf(runtime.store, run.id)).toMatchObject({ owner: 'w2', token: 2 });
  });

  it('says why it cannot: a missing run, a finished one, a suspended one (unless a cancel is waiting)', async () => {
    expect(await acquire('00000000-0000-4000-8000-000000000000', 'w1', concurrency)).toEqual({ kind: 'missing' });

    const finished = await runtime.createRun('leases', {});
    await runtime.eventLog.append(finished.id, [started, { type: 'run.succeeded', data: { output: null } }]);
    expect(await acquire(finished.id, 'w1', concurrency)).toEqual({ kind: 'finished' });

    const sleeping = await runtime.createRun('leases', {});
    const until = new Date(Date.now() + 3_600_000);
    await runtime.eventLog.append(sleeping.id, [started, { type: 'run.sleeping', data: { name: 'nap', until: until.toISOString() } }]);
    expect(await acquire(sleeping.id, 'w1', concurrency)).toEqual({ kind: 'suspended', wakeAt: until });
    expect((await leaseOf(runtime.store, sleeping.id)).owner).toBeNull();
    await runtime.eventLog.append(sleeping.id, [{ type: 'run.cancel_requested', data: {} }]);
    expect(await acquire(sleeping.id, 'w1', concurrency)).toMatchObject({ kind: 'acquired' });
  });

  it('gives one lease to many acquirers racing for it', async () => {
    const run = await runtime.createRun('leases', {});
    const outcomes = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => acquire(run.id, owner, concurrency)));
    expect(outcomes.filter((outcome) => outcome.kind === 'acquired')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'held')).toHaveLength(3);
  });
});
