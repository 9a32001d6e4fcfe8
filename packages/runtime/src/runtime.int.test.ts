import { systemClock } from '@runstream/domain';
import type { BusSignal } from '@runstream/notify';
import { connectStore } from '@runstream/store';
import { countUnpublishedOutboxRows, sessionsOnDatabase, terminateSessions } from '@runstream/store/testing';
import { createTestDatabase, testServices } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from './runtime.js';
import { createTestRuntime, type TestRuntime } from './testing/index.js';

let a: TestRuntime;
let b: TestRuntime;
beforeAll(async () => {
  [a, b] = await Promise.all([createTestRuntime(), createTestRuntime()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe('two runtimes in one process', () => {
  it('share nothing: runs, bus signals and outbox stay with their own database', async () => {
    expect(a.database.name).not.toBe(b.database.name);
    expect(a.namespace).not.toBe(b.namespace);

    const heardByA: BusSignal[] = [];
    const heardByB: BusSignal[] = [];
    let resolveHeard!: () => void;
    const aHeardItsAppend = new Promise<void>((resolve) => (resolveHeard = resolve));
    let runId = '';
    const unsubscribeA = a.bus.subscribeAll((signal) => {
      heardByA.push(signal);
      if (signal.kind === 'appended' && signal.runId === runId && signal.lastSeq === 2) resolveHeard();
    });
    const unsubscribeB = b.bus.subscribeAll((signal) => heardByB.push(signal));
    try {
      const { run } = await a.runs.create({ workflow: 'isolation', input: { from: 'a' } });
      runId = run.id;
      await a.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'w' } }]);

      expect(await a.runs.get(run.id)).toMatchObject({ id: run.id, lastSeq: 2 });
      expect(await b.runs.get(run.id)).toBeNull();
      expect((await b.runs.list()).runs).toEqual([]);
      expect((await b.eventLog.readAll()).events).toEqual([]);

      // Neither drain loop runs: A hears its append over its own LISTEN connection. B was subscribed all along
      // and its LISTEN connection is as fast; after A heard, B must still have heard nothing.
      await aHeardItsAppend;
      expect(heardByA.some((s) => s.kind === 'appended' && s.runId === run.id)).toBe(true);
      expect(heardByB).toEqual([]);

      expect(await b.drainer.drainOnce()).toBe(0);
      expect(await a.drainer.drainOnce()).toBe(2);
      expect(await a.drainer.drainOnce()).toBe(0);
      // A notify B could have heard would have come through B's own LISTEN connection by now: flush it by
      // making B hear something of its own and checking nothing of A's arrived before it.
      let resolveOwn!: () => void;
      const bHeardOwn = new Promise<void>((resolve) => (resolveOwn = resolve));
      const { run: own } = await b.runs.create({ workflow: 'isolation', input: { from: 'b' } });
      const stopOwn = b.bus.subscribe(own.id, () => resolveOwn());
      try {
        await b.drainer.drainOnce();
        await bHeardOwn;
      } finally {
        stopOwn();
      }
      expect(heardByB.filter((s) => s.kind !== 'appended' || s.runId !== own.id)).toEqual([]);
      expect(heardByA.some((s) => s.kind === 'appended' && s.runId === own.id)).toBe(false);
      expect(await a.runs.get(own.id)).toBeNull();
    } finally {
      unsubscribeA();
      unsubscribeB();
    }
    expect(a.bus.listenerCount()).toBe(0);
    expect(b.bus.listenerCount()).toBe(0);
  });
});

describe('close', () => {
  it('is idempotent and leaves no connection open', async () => {
    const database = await createTestDatabase();
    const adminHandle = connectStore({ databaseUrl: testServices().adminUrl, poolSize: 1, clock: systemClock });
    const admin = adminHandle.store;
    try {
      const runtime = await createRuntime({ databaseUrl: database.url, namespace: database.name, poolSize: 3 });
      runtime.start();
      const { run } = await runtime.runs.create({ workflow: 'close', input: null });
      expect(await runtime.runs.get(run.id)).not.toBeNull();
      const connected = await sessionsOnDatabase(admin, database.name);
      expect(connected.map((row) => row.application_name)).toContain('runstream-listen');

      await Promise.all([runtime.close(), runtime.close()]);
      await runtime.close();

      await expect(runtime.store.ping()).rejects.toThrow();
      await expect(runtime.runs.get(run.id)).rejects.toThrow();
      expect(await sessionsOnDatabase(admin, database.name)).toEqual([]);
    } finally {
      await adminHandle.close();
      await database.drop();
    }
  });
});

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('LISTEN connection', () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await createTestRuntime();
  });
  afterAll(() => runtime?.close());

  const started = { type: 'run.started', data: { attempt: 1, workerId: 'w1' } } as const;
  const output = (data: unknown) => ({ type: 'run.output', data: { data } }) as const;
  const newRun = async () => (await runtime.runs.create({ workflow: 'listen.test', input: {} })).run;

  it('reconnects after its backend is terminated, signals resync, and hears appends again', async () => {
    const signals: BusSignal[] = [];
    const resynced = deferred();
    let expecting: { runId: string; lastSeq: number; heard: Deferred<void> } | null = null;
    const unsubscribe = runtime.bus.subscribeAll((signal) => {
      signals.push(signal);
      if (signal.kind === 'resync') resynced.resolve();
      else if (expecting && signal.runId === expecting.runId && signal.lastSeq === expecting.lastSeq) {
        expecting.heard.resolve();
      }
    });
    try {
      // The runtime's drain loop is not running, so the bus can only hear appends over LISTEN.
      const run = await newRun();
      expecting = { runId: run.id, lastSeq: 2, heard: deferred() };
      await runtime.eventLog.append(run.id, [started]);
      await expecting.heard.promise;
      expect(signals.some((s) => s.kind === 'resync')).toBe(false);

      expect(await terminateSessions(runtime.store, 'runstream-listen')).toEqual([true]);

      await resynced.promise;

      expecting = { runId: run.id, lastSeq: 3, heard: deferred() };
      await runtime.eventLog.append(run.id, [output('after reconnect')]);
      await expecting.heard.promise;
      expect(signals.filter((s) => s.kind === 'resync')).toHaveLength(1);
      expect(await countUnpublishedOutboxRows(runtime.store)).toBe(3); // nothing was drained: the signals came over LISTEN
    } finally {
      unsubscribe();
    }
  });
});
