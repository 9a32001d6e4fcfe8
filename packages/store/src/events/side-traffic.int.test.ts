import { ConcurrencyError, LeaseLostError, type RunAppended } from '@runstream/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, type StoreConnection } from '../store.js';
import { createTestStore, expireLease, outboxRows, type TestStore } from '../testing/index.js';

let runtime: TestStore;
/** A second node on the same database: its appends are what the first one's known projections miss. */
let other: StoreConnection;
const heard: { signal: RunAppended; outboxed: boolean }[] = [];
let observed: StoreConnection;

beforeAll(async () => {
  runtime = await createTestStore();
  other = connectStore({ databaseUrl: runtime.database.url, poolSize: 2, clock: runtime.clock });
  observed = connectStore({
    databaseUrl: runtime.database.url,
    poolSize: 2,
    clock: runtime.clock,
    onAppended: (signal, outboxed) => heard.push({ signal, outboxed }),
  });
});
afterAll(async () => {
  await other?.close();
  await observed?.close();
  await runtime?.close();
});

const started = { type: 'run.started', data: { attempt: 1, workerId: 'w1' } } as const;

async function seqs(runId: string) {
  return (await runtime.eventLog.read(runId)).map((event) => event.seq);
}

async function outboxRangesOf(runId: string) {
  return (await outboxRows(runtime.store)).filter((row) => row.run_id === runId).map((row) => [row.first_seq, row.last_seq]);
}

describe('outbox rows', () => {
  it('none for what the execution holding the lease appends; one for a suspension and for every other append', async () => {
    const { store } = observed;
    const { run } = await store.runs.create({ workflow: 'side.traffic', input: {} });
    const lease = await store.leases.acquire(run.id, 'w1', { leaseMs: 60_000 });
    if (lease.kind !== 'acquired') throw new Error(`lease not acquired: ${lease.kind}`);
    const fence = { token: lease.token };

    await store.events.append(run.id, [started], { fence });
    await store.events.append(run.id, [{ type: 'step.started', data: { step: 'a', attempt: 1 } }], { fence });
    await store.events.append(run.id, [{ type: 'run.output', data: { data: 'from outside' } }]);
    await store.events.append(
      run.id,
      [{ type: 'run.sleeping', data: { name: 'nap', until: new Date(Date.now() + 60_000).toISOString() } }],
      { fence: { ...fence, release: true } },
    );

    expect(await seqs(run.id)).toEqual([1, 2, 3, 4, 5]);
    expect(await outboxRangesOf(run.id)).toEqual([
      [1, 1],
      [4, 4],
      [5, 5],
    ]);
    expect(heard.filter((h) => h.signal.runId === run.id).map((h) => [h.signal.lastSeq, h.outboxed])).toEqual([
      [1, true],
      [2, false],
      [3, false],
      [4, true],
      [5, true],
    ]);
  });

  it('one for the end of a run, which its parent and the runs started after it wait for', async () => {
    const { store } = observed;
    const { run } = await store.runs.create({ workflow: 'side.traffic', input: {} });
    const lease = await store.leases.acquire(run.id, 'w1', { leaseMs: 60_000 });
    if (lease.kind !== 'acquired') throw new Error(`lease not acquired: ${lease.kind}`);
    await store.events.append(run.id, [started], { fence: { token: lease.token } });
    await store.events.append(run.id, [{ type: 'run.succeeded', data: { output: 1 } }], { fence: { token: lease.token } });
    expect(await outboxRangesOf(run.id)).toEqual([
      [1, 1],
      [3, 3],
    ]);
  });
});

describe('status changes from the projection this store wrote last', () => {
  it('a store whose projection is behind (another node appended) still writes dense seqs and the right state', async () => {
    const run = await runtime.createRun('side.traffic', {});
    await other.store.events.append(run.id, [started]);
    // Legal from `queued` (what this store wrote last) and from `running` (what the run is now).
    const result = await runtime.eventLog.append(run.id, [{ type: 'run.cancel_requested', data: { reason: 'r' } }]);

    expect(result.events.map((event) => event.seq)).toEqual([3]);
    expect(result.state).toMatchObject({ status: 'running', attempts: 1, cancelRequested: true });
    expect(await seqs(run.id)).toEqual([1, 2, 3]);
    expect(await runtime.getRun(run.id)).toMatchObject({ status: 'running', attempts: 1, cancelRequested: true, lastSeq: 3 });
  });

  it('keeps ConcurrencyError for an expectedSeq the run has moved past, and accepts the current one', async () => {
    const run = await runtime.createRun('side.traffic', {});
    await other.store.events.append(run.id, [started]);
    const cancel = { type: 'run.cancel_requested', data: { reason: 'r' } } as const;

    await expect(runtime.eventLog.append(run.id, [cancel], { expectedSeq: 1 })).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await seqs(run.id)).toEqual([1, 2]);
    const result = await runtime.eventLog.append(run.id, [cancel], { expectedSeq: 2 });
    expect(result.lastSeq).toBe(3);
  });

  it('refuses a fenced status change once another execution has taken the lease over, and writes nothing', async () => {
    const run = await runtime.createRun('side.traffic', {});
    const first = await runtime.store.leases.acquire(run.id, 'w1', { leaseMs: 60_000 });
    if (first.kind !== 'acquired') throw new Error(`lease not acquired: ${first.kind}`);
    await runtime.eventLog.append(run.id, [started], { fence: { token: first.token } });
    await expireLease(runtime.store, run.id);
    const second = await other.store.leases.acquire(run.id, 'w2', { leaseMs: 60_000 });
    expect(second.kind).toBe('acquired');

    await expect(
      runtime.eventLog.append(run.id, [{ type: 'run.succeeded', data: { output: 1 } }], { fence: { token: first.token } }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    expect(await seqs(run.id)).toEqual([1, 2]);
    expect((await runtime.getRun(run.id))?.status).toBe('running');
  });
});
