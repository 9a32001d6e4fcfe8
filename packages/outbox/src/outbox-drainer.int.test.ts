import { ManualClock, systemClock, type Clock } from '@runstream/domain';
import { connectStore } from '@runstream/store';
import {
  countSessions,
  createTestStore,
  deleteOutboxRows,
  outboxRows as readOutboxRows,
  type OutboxState,
  type TestStore,
} from '@runstream/store/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOutboxDrainer, type OutboxDrainerConfig, type OutboxMessage, type OutboxPublisher } from './index.js';

let runtime: TestStore;
beforeAll(async () => {
  runtime = await createTestStore();
});
afterAll(() => runtime?.close());

// Every test starts from an empty outbox, so counts and "published exactly once" only see its own rows.
beforeEach(async () => {
  await deleteOutboxRows(runtime.store);
});

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  settled: boolean;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(value) {
      d.settled = true;
      resolve(value);
    },
  };
  return d;
}

const started = { type: 'run.started', data: { attempt: 1, workerId: 'w1' } } as const;
const output = (data: unknown) => ({ type: 'run.output', data: { data } }) as const;

async function newRun() {
  return (await runtime.runs.create({ workflow: 'outbox.test', input: {} })).run;
}

/** A publisher that records every message it is given, in call order. */
function recorder(log: OutboxMessage[] = []): OutboxPublisher & { log: OutboxMessage[] } {
  return {
    log,
    async publish(message) {
      log.push(message);
    },
  };
}

function drainer(publisher: OutboxPublisher, extra: Partial<OutboxDrainerConfig> & { clock?: Clock } = {}) {
  return createOutboxDrainer({ store: runtime.store, clock: systemClock, publisher, ...extra });
}

function outboxRows(): Promise<OutboxState[]> {
  return readOutboxRows(runtime.store);
}

/** Per run, the seq ranges in the order they were published must tile 1..N without gaps or repeats. */
function expectRunOrder(messages: OutboxMessage[]): void {
  const next = new Map<string, number>();
  for (const message of messages) {
    const expected = next.get(message.runId) ?? 1;
    expect(message.firstSeq, `run ${message.runId}`).toBe(expected);
    next.set(message.runId, message.lastSeq + 1);
  }
}

function expectEachOnce(messages: OutboxMessage[], rows: OutboxState[]): void {
  expect(messages.map((message) => message.id).sort((a, b) => a - b)).toEqual(rows.map((row) => row.id));
}

describe('drainOnce', () => {
  it('publishes pending rows, returns the count, and marks them published', async () => {
    const a = await newRun();
    const b = await newRun();
    await runtime.eventLog.append(a.id, [started, output(1)]);
    const publisher = recorder();
    const drain = drainer(publisher);

    expect(await drain.drainOnce()).toBe(3);
    expect(await drain.drainOnce()).toBe(0);

    const rows = await outboxRows();
    expect(rows).toHaveLength(3);
    expect(rows.every((row) => row.published && !row.failed && row.attempts === 0)).toBe(true);
    expectEachOnce(publisher.log, rows);
    expect(publisher.log.map((m) => [m.runId, m.firstSeq, m.lastSeq])).toEqual(
      expect.arrayContaining([
        [a.id, 1, 1],
        [b.id, 1, 1],
        [a.id, 2, 3],
      ]),
    );
    const batch = publisher.log.find((m) => m.runId === a.id && m.firstSeq === 2);
    expect(batch?.eventTypes.sort()).toEqual(['run.output', 'run.started']);
  });

  it('publishes each run in seq order, with several runs interleaved and small batches', async () => {
    const runIds = [];
    for (let i = 0; i < 3; i++) {
      const run = await newRun();
      await runtime.eventLog.append(run.id, [started]);
      runIds.push(run.id);
    }
    for (let round = 0; round < 5; round++) {
      for (const runId of runIds) await runtime.eventLog.append(runId, [output(round), output(`${round}b`)]);
    }
    const publisher = recorder();
    const drain = drainer(publisher);
    let total = 0;
    for (;;) {
      const published = await drain.drainOnce({ limit: 4 });
      if (published === 0) break;
      total += published;
    }
    const rows = await outboxRows();
    expect(total).toBe(3 * 7);
    expect(rows.every((row) => row.published)).toBe(true);
    expectEachOnce(publisher.log, rows);
    expectRunOrder(publisher.log);
    for (const runId of runIds) {
      expect(publisher.log.filter((m) => m.runId === runId).at(-1)?.lastSeq).toBe(12);
    }
  });

  it('keeps per-run order and exactly-once with several drainers racing while appends continue', async () => {
    const runIds = [];
    for (let i = 0; i < 4; i++) {
      const run = await newRun();
      await runtime.eventLog.append(run.id, [started]);
      runIds.push(run.id);
    }
    const log: OutboxMessage[] = [];
    const publisher: OutboxPublisher = {
      async publish(message) {
        log.push(message);
        // Let the other drainers' passes interleave with this one.
        await runtime.store.ping();
      },
    };
    const drainers = Array.from({ length: 4 }, () => drainer(publisher, { batchSize: 3 }));
    let appending = true;
    const appends = (async () => {
      for (let round = 0; round < 10; round++) {
        await Promise.all(runIds.map((runId) => runtime.eventLog.append(runId, [output(round)])));
      }
      appending = false;
    })();
    await Promise.all([
      appends,
      ...drainers.map(async (d) => {
        while (appending) await d.drainOnce({ limit: 3 });
      }),
    ]);
    await drainers[0]!.drainUntilIdle();

    const rows = await outboxRows();
    expect(rows).toHaveLength(4 * 12);
    expect(rows.every((row) => row.published)).toBe(true);
    expectEachOnce(log, rows);
    expectRunOrder(log);
  });
});

describe('concurrent drainers', () => {
  it('never publish the same row, and hold back later rows of a run another drainer has claimed', async () => {
    const x = await newRun();
    await runtime.eventLog.append(x.id, [started]);
    const log: { by: 'A' | 'B'; message: OutboxMessage }[] = [];
    let y = '';

    const entered = deferred<OutboxMessage>();
    const release = deferred();
    const a = drainer({
      async publish(message) {
        if (!entered.settled) {
          entered.resolve(message);
          await release.promise;
        }
        log.push({ by: 'A', message });
      },
    });
    const b = drainer({
      async publish(message) {
        log.push({ by: 'B', message });
      },
    });

    // A claims x's first two rows and stalls while publishing the first.
    const aPass = a.drainOnce({ limit: 2 });
    try {
      const first = await entered.promise;
      expect([first.runId, first.firstSeq]).toEqual([x.id, 1]);

      await runtime.eventLog.append(x.id, [output('later')]); // x seq 3: must wait for A
      y = (await newRun()).id; // another run: free to go

      expect(await b.drainOnce()).toBe(1);
      expect(log.map(({ by, message }) => [by, message.runId, message.firstSeq])).toEqual([['B', y, 1]]);
    } finally {
      release.resolve(); // never leave A's transaction (and its row locks) behind a failed assertion
    }
    expect(await aPass).toBe(2);
    expect(await b.drainOnce()).toBe(1);
    expect(await b.drainOnce()).toBe(0);
    expect(await a.drainOnce()).toBe(0);

    expect(log.map(({ by, message }) => [by, message.runId, message.firstSeq])).toEqual([
      ['B', y, 1],
      ['A', x.id, 1],
      ['A', x.id, 2],
      ['B', x.id, 3],
    ]);
    const rows = await outboxRows();
    expect(rows.every((row) => row.published)).toBe(true);
    expectEachOnce(
      log.map(({ message }) => message),
      rows,
    );
  });

  it('a drainer that dies between claim and publish leaves the row to another (at-least-once)', async () => {
    const applicationName = `dying-drainer-${process.pid}`;
    const handle = connectStore({ databaseUrl: runtime.database.url, poolSize: 2, applicationName, clock: systemClock });
    const claimed = deferred<OutboxMessage>();
    const dying = createOutboxDrainer({
      store: handle.store,
      clock: systemClock,
      publisher: {
        async publish(message) {
          claimed.resolve(message);
          await handle.close(0);
          throw new Error('process died mid-publish');
        },
      },
    });
    const run = await newRun();

    await expect(dying.drainOnce()).rejects.toThrow();
    expect((await claimed.promise).runId).toBe(run.id);

    // The dead connection's transaction is rolled back once its backend is gone; wait for that fact.
    const deadline = Date.now() + 55_000;
    for (;;) {
      if ((await countSessions(runtime.store, applicationName)) === 0) break;
      if (Date.now() > deadline) throw new Error('the dead drainer connection never went away');
    }

    const survivor = recorder();
    expect(await drainer(survivor).drainOnce()).toBe(1);
    expect(survivor.log).toHaveLength(1);
    expect(survivor.log[0]).toMatchObject({ runId: run.id, firstSeq: 1, attempts: 0 });
    const [row] = await outboxRows();
    expect(row).toMatchObject({ published: true, attempts: 0, last_error: null });
  });
});

describe('retries', () => {
  it('retries a failed publish only after its backoff, then publishes held-back later rows in order', async () => {
    const clock = new ManualClock();
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started]);
    const log: OutboxMessage[] = [];
    let failuresLeft = 1;
    const backoffCalls: number[] = [];
    const drain = drainer(
      {
        async publish(message) {
          log.push(message);
          if (message.firstSeq === 1 && failuresLeft-- > 0) throw new Error('broker unavailable');
        },
      },
      {
        clock,
        maxAttempts: 3,
        backoffMs: (failures) => {
          backoffCalls.push(failures);
          return 1_000;
        },
      },
    );

    expect(await drain.drainOnce()).toBe(0);
    expect(log.map((m) => m.firstSeq)).toEqual([1]); // seq 2 was claimed too, but must not overtake seq 1
    expect(backoffCalls).toEqual([1]);
    let [first, second] = await outboxRows();
    expect(first).toMatchObject({ attempts: 1, published: false, failed: false, last_error: 'Error: broker unavailable' });
    expect(second).toMatchObject({ attempts: 0, published: false });

    // Not due yet: the first row is not retried and the second is held back behind it.
    expect(await drain.drainOnce()).toBe(0);
    clock.advance(999);
    expect(await drain.drainOnce()).toBe(0);
    expect(log).toHaveLength(1);

    clock.advance(1);
    expect(await drain.drainOnce()).toBe(2);
    expect(log.map((m) => [m.firstSeq, m.attempts])).toEqual([
      [1, 0],
      [1, 1],
      [2, 0],
    ]);
    [first, second] = await outboxRows();
    expect(first).toMatchObject({ attempts: 1, published: true, failed: false });
    expect(second).toMatchObject({ attempts: 0, published: true });
    expect(await drain.drainOnce()).toBe(0);
  });

  it('parks a row as failed after maxAttempts and stops blocking its run', async () => {
    const clock = new ManualClock();
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started]);
    const log: OutboxMessage[] = [];
    const drain = drainer(
      {
        async publish(message) {
          log.push(message);
          if (message.firstSeq === 1) throw new Error(`poison message ${message.id}`);
        },
      },
      { clock, maxAttempts: 3, backoffMs: () => 1_000 },
    );

    expect(await drain.drainOnce()).toBe(0); // attempt 1
    expect(await drain.drainOnce()).toBe(0); // not due
    clock.advance(1_000);
    expect(await drain.drainOnce()).toBe(0); // attempt 2
    clock.advance(1_000);
    expect(await drain.drainOnce()).toBe(0); // attempt 3: parked
    expect(log.map((m) => [m.firstSeq, m.attempts])).toEqual([
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    const [parked] = await outboxRows();
    expect(parked).toMatchObject({ attempts: 3, failed: true, published: false });
    expect(parked?.last_error).toBe(`Error: poison message ${parked?.id}`);

    // The run's later row no longer waits on the parked one.
    expect(await drain.drainOnce()).toBe(1);
    expect(log.at(-1)).toMatchObject({ firstSeq: 2, attempts: 0 });

    // The parked row is never drained again, however much time passes.
    clock.advance(24 * 3_600_000);
    expect(await drain.drainOnce()).toBe(0);
    expect(await drain.drainUntilIdle()).toBe(0);
    expect(log.filter((m) => m.firstSeq === 1)).toHaveLength(3);
    const [after, second] = await outboxRows();
    expect(after).toMatchObject({ attempts: 3, failed: true, published: false });
    expect(second).toMatchObject({ published: true });
  });

  it('a run waiting out a backoff does not starve other runs', async () => {
    const clock = new ManualClock();
    const stuck = await newRun();
    await runtime.eventLog.append(stuck.id, [started]);
    await runtime.eventLog.append(stuck.id, [output(1)]);
    await runtime.eventLog.append(stuck.id, [output(2)]);
    const log: OutboxMessage[] = [];
    const drain = drainer(
      {
        async publish(message) {
          log.push(message);
          if (message.runId === stuck.id && message.firstSeq === 1) throw new Error('down');
        },
      },
      { clock, backoffMs: () => 60_000, batchSize: 3 },
    );
    expect(await drain.drainOnce({ limit: 1 })).toBe(0); // the stuck run's first row is now in backoff

    const other = await newRun();
    // Three held-back rows of the stuck run come first in id order; the other run's row must still go out.
    expect(await drain.drainOnce({ limit: 3 })).toBe(1);
    expect(log.at(-1)).toMatchObject({ runId: other.id, firstSeq: 1 });
  });
});

describe('background loop', () => {
  it('publishes appends without drainOnce, and stop() waits for the batch in hand', async () => {
    // Armed before the runs exist: the loop may publish a run's row before `create` has even returned.
    const seen = new Map<string, Deferred<OutboxMessage>>();
    const seenOf = (runId: string) => seen.get(runId) ?? seen.set(runId, deferred<OutboxMessage>()).get(runId)!;
    let gate: { except: string; entered: Deferred<void>; release: Deferred<void> } | null = null;
    const log: OutboxMessage[] = [];
    const finished: number[] = [];
    const drain = drainer(
      {
        async publish(message) {
          log.push(message);
          if (gate && message.runId !== gate.except && !gate.entered.settled) {
            gate.entered.resolve();
            await gate.release.promise;
          }
          seenOf(message.runId).resolve(message);
          finished.push(message.id);
        },
      },
      { pollIntervalMs: 25 },
    );
    drain.start();
    try {
      const first = await newRun();
      // Nobody calls drainOnce or wake: only the loop can publish this.
      expect(await seenOf(first.id).promise).toMatchObject({ runId: first.id, firstSeq: 1 });

      // The next publish (the second run's) blocks inside the publisher until released.
      gate = { except: first.id, entered: deferred(), release: deferred() };
      const second = await newRun();
      await gate.entered.promise;
      let stopped = false;
      const stopping = drain.stop().then(() => {
        stopped = true;
      });
      await runtime.store.ping(); // a full round trip: ample time for a stop() that does not wait
      expect(stopped).toBe(false);
      gate.release.resolve();
      await stopping;

      const rows = await outboxRows();
      const row = rows.find((r) => r.run_id === second.id);
      expect(row?.published).toBe(true);
      expect(finished).toContain(row?.id);

      // The loop is gone: a new append stays pending until someone drains it.
      const third = await newRun();
      const countBefore = log.length;
      expect(log.some((m) => m.runId === third.id)).toBe(false);
      expect(await drain.drainOnce()).toBe(1);
      expect(log.length).toBe(countBefore + 1);
      expect(log.at(-1)?.runId).toBe(third.id);
    } finally {
      gate?.release.resolve();
      await drain.stop();
    }
  });
});
