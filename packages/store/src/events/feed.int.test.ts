import { connectDatabase } from '@runstream/db';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFeedCursor } from '../feed-cursor.js';
import { createEventLog } from '../store.js';
import type { FeedEvent } from './read-all.js';
import { createTestStore, type TestStore } from '../testing/index.js';

let runtime: TestStore;
beforeAll(async () => {
  runtime = await createTestStore();
});
afterAll(() => runtime?.close());

const started = { type: 'run.started', data: { attempt: 1, workerId: 'w1' } } as const;
const output = (data: unknown) => ({ type: 'run.output', data: { data } }) as const;

async function newRun() {
  return runtime.createRun('feed.test', {});
}

const key = (event: { runId: string; seq: number }) => `${event.runId}#${event.seq}`;

/**
 * Reads the feed from `after` until `done` says enough of it was seen. The feed may legitimately hold events
 * back while any older transaction in the cluster is in flight (other test files share the server), so an
 * empty page is not the end; the deadline is a failure, never a success.
 */
async function readFeedUntil(
  after: string | undefined,
  done: (seen: FeedEvent[]) => boolean,
  { limit = 500, timeoutMs = 55_000 }: { limit?: number; timeoutMs?: number } = {},
): Promise<{ events: FeedEvent[]; cursor: string | undefined }> {
  const seen: FeedEvent[] = [];
  let cursor = after;
  const deadline = Date.now() + timeoutMs;
  while (!done(seen)) {
    if (Date.now() > deadline) {
      throw new Error(`feed did not deliver the expected events (saw ${seen.length}); ${await oldestTransactions()}`);
    }
    const page = await runtime.eventLog.readAll({ ...(cursor === undefined ? {} : { after: cursor }), limit });
    seen.push(...page.events);
    cursor = page.cursor;
  }
  return { events: seen, cursor };
}

/** The feed waits for the cluster's oldest running transaction: name it when a wait times out. */
async function oldestTransactions(): Promise<string> {
  const rows = await runtime.store.db.execute(sql`
    select datname, application_name, state, backend_xid::text, (now() - xact_start)::text as age, left(query, 120) as query
    from pg_stat_activity where backend_xid is not null order by xact_start limit 3`);
  return `oldest transactions in the cluster: ${JSON.stringify([...rows])}`;
}

/** A cursor past everything the feed delivers now: events of transactions that start later come after it. */
async function feedHead(): Promise<string> {
  let cursor: string | undefined;
  for (;;) {
    const page = await runtime.eventLog.readAll({ ...(cursor === undefined ? {} : { after: cursor }), limit: 10_000 });
    cursor = page.cursor;
    if (page.events.length === 0) return cursor;
  }
}

/** Events of `runIds` in `events`, as keys in feed order. */
function keysOf(events: FeedEvent[], runIds: Set<string>): string[] {
  return events.filter((event) => runIds.has(event.runId)).map(key);
}

function expectOrderedCursors(events: FeedEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    const previous = decodeFeedCursor(events[i - 1]!.cursor);
    const current = decodeFeedCursor(events[i]!.cursor);
    const increasing =
      current.transactionId > previous.transactionId ||
      (current.transactionId === previous.transactionId && current.position > previous.position);
    expect(increasing, `cursor ${events[i]!.cursor} after ${events[i - 1]!.cursor}`).toBe(true);
  }
}

describe('readAll', () => {
  it('returns every run’s events in commit order, and paging with `after` yields each exactly once', async () => {
    const start = await feedHead();
    const a = await newRun();
    const b = await newRun();
    const expected = [key({ runId: a.id, seq: 1 }), key({ runId: b.id, seq: 1 })];
    for (let i = 0; i < 6; i++) {
      const run = i % 3 === 0 ? b : a;
      const { events } = await runtime.eventLog.append(
        run.id,
        i === 0 || i === 1 ? [started, output(i)] : [output(i)],
      );
      expected.push(...events.map(key));
    }
    const ids = new Set([a.id, b.id]);

    const whole = await readFeedUntil(undefined, (seen) => keysOf(seen, ids).length >= expected.length, {
      limit: 10_000,
    });
    expect(keysOf(whole.events, ids)).toEqual(expected);
    expectOrderedCursors(whole.events);

    for (const limit of [1, 2, 3, 7]) {
      const paged = await readFeedUntil(start, (seen) => keysOf(seen, ids).length >= expected.length, {
        limit,
      });
      expect(keysOf(paged.events, ids), `limit ${limit}`).toEqual(expected);
      expectOrderedCursors(paged.events);
      const page = await runtime.eventLog.readAll({ after: paged.cursor!, limit });
      expect(page.events.filter((event) => ids.has(event.runId))).toEqual([]);
      expect(page.cursor).toBe(paged.cursor);
    }

    const first = whole.events.find((event) => ids.has(event.runId))!;
    const resumed = await runtime.eventLog.readAll({ after: first.cursor, limit: 10_000 });
    expect(keysOf(resumed.events, ids)).toEqual(expected.slice(1));
    await expect(runtime.eventLog.readAll({ after: 'nope' })).rejects.toThrow();
  });

  it('orders numerically, not as text, where positions cross a power of ten inside one transaction', async () => {
    const start = await feedHead();
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started]);
    const ids = new Set([run.id]);
    const [current] = await runtime.store.db.execute<{ max: string }>(
      sql`select coalesce(max(position), 0)::text as max from run_events`,
    );
    const boundary = 10 ** String(Number(current!.max) + 10).length;
    await runtime.store.db.execute(
      sql`select setval(pg_get_serial_sequence('run_events', 'position'), ${boundary - 4}::bigint)`,
    );
    const { events } = await runtime.eventLog.append(
      run.id,
      Array.from({ length: 8 }, (_, i) => output(i)),
    );
    expect(events).toHaveLength(8);
    const expected = [key({ runId: run.id, seq: 1 }), key({ runId: run.id, seq: 2 }), ...events.map(key)];

    for (const limit of [10_000, 3, 1]) {
      const paged = await readFeedUntil(start, (seen) => keysOf(seen, ids).length >= expected.length, { limit });
      expect(keysOf(paged.events, ids), `limit ${limit}`).toEqual(expected);
      const positions = paged.events.filter((event) => event.seq > 2).map((event) => decodeFeedCursor(event.cursor).position);
      expect(positions).toEqual(Array.from({ length: 8 }, (_, i) => BigInt(boundary - 3 + i)));
    }
  });

  it('withholds events committed after an older transaction that is still open, then delivers both in order', async () => {
    const early = await newRun();
    const late = await newRun();
    await runtime.eventLog.append(early.id, [started]);
    await runtime.eventLog.append(late.id, [started]);
    const ids = new Set([early.id, late.id]);
    const { cursor } = await readFeedUntil(undefined, (seen) => keysOf(seen, ids).length === 4, { limit: 10_000 });

    const other = connectDatabase(runtime.database.url, { max: 1, applicationName: 'feed-open-transaction' });
    let inTransaction!: () => void;
    const appended = new Promise<void>((resolve) => (inTransaction = resolve));
    let commit!: () => void;
    const commitGate = new Promise<void>((resolve) => (commit = resolve));
    let openTransaction: Promise<void> = Promise.resolve();
    try {
      openTransaction = other.db.transaction(async (tx) => {
        const log = createEventLog({ db: tx, clock: runtime.clock });
        await log.append(early.id, [output('from the older transaction')]);
        inTransaction();
        await commitGate;
      });
      await appended;

      // A younger transaction appends and commits while the older one is still open.
      const committed = await runtime.eventLog.append(late.id, [output('committed first')]);
      expect(committed.events.map((event) => event.seq)).toEqual([3]);
      expect((await runtime.eventLog.read(late.id, { fromSeq: 3 })).map((event) => event.seq)).toEqual([3]);

      const during = await runtime.eventLog.readAll({ after: cursor!, limit: 10_000 });
      expect(during.events).toEqual([]);
      expect(during.cursor).toBe(cursor);

      commit();
      await openTransaction;

      const after = await readFeedUntil(cursor, (seen) => seen.length >= 2, { limit: 10_000 });
      expect(after.events.map((event) => [event.runId, event.seq, event.data])).toEqual([
        [early.id, 3, { data: 'from the older transaction' }],
        [late.id, 3, { data: 'committed first' }],
      ]);
      const nothingMore = await runtime.eventLog.readAll({ after: after.cursor!, limit: 10_000 });
      expect(nothingMore.events).toEqual([]);
    } finally {
      // An open transaction holds back the feed of every database in the cluster: never leave it behind.
      commit();
      await openTransaction.catch(() => undefined);
      await other.close();
    }
  });

  it('property: concurrent writers, some in slow transactions — every event exactly once, per run in seq order', async () => {
    const writer = fc.record({
      run: fc.nat({ max: 2 }),
      slow: fc.boolean(),
      batches: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(writer, { minLength: 2, maxLength: 8 }),
        fc.integer({ min: 1, max: 25 }),
        async (runCount, writers, pageSize) => {
          // Where the feed ends now: every event written below belongs to a transaction that starts later.
          const head = await feedHead();

          const runIds: string[] = [];
          for (let i = 0; i < runCount; i++) {
            const run = await newRun();
            await runtime.eventLog.append(run.id, [started]);
            runIds.push(run.id);
          }
          const ids = new Set(runIds);
          const expectedCount = new Map(runIds.map((id) => [id, 2]));
          for (const w of writers) {
            const runId = runIds[w.run % runCount]!;
            expectedCount.set(runId, expectedCount.get(runId)! + w.batches.reduce((sum, n) => sum + n, 0));
          }
          const total = [...expectedCount.values()].reduce((sum, n) => sum + n, 0);

          let writing = true;
          const reader = (async () => {
            const seen: FeedEvent[] = [];
            let cursor = head;
            const deadline = Date.now() + 55_000;
            while (writing || keysOf(seen, ids).length < total) {
              if (Date.now() > deadline) {
                throw new Error(`reader saw ${keysOf(seen, ids).length} of ${total}; ${await oldestTransactions()}`);
              }
              const page = await runtime.eventLog.readAll({ after: cursor, limit: pageSize });
              seen.push(...page.events);
              cursor = page.cursor;
            }
            return seen;
          })();

          const writes = Promise.all(
            writers.map(async (w, index) => {
              const runId = runIds[w.run % runCount]!;
              const events = (batch: number, size: number) =>
                Array.from({ length: size }, (_, i) => output(`w${index}b${batch}e${i}`));
              if (!w.slow) {
                for (const [batch, size] of w.batches.entries()) await runtime.eventLog.append(runId, events(batch, size));
                return;
              }
              await runtime.store.db.transaction(async (tx) => {
                const log = createEventLog({ db: tx, clock: runtime.clock });
                for (const [batch, size] of w.batches.entries()) {
                  await log.append(runId, events(batch, size));
                  await tx.execute(sql`select pg_sleep(0.02)`);
                }
              });
            }),
          );
          try {
            await writes;
          } finally {
            writing = false;
          }
          const seenByReader = await reader;

          for (const runId of runIds) {
            const stored = await runtime.eventLog.read(runId, { limit: 10_000 });
            expect(stored.map((event) => event.seq)).toEqual(
              Array.from({ length: expectedCount.get(runId)! }, (_, i) => i + 1),
            );
          }

          const fromStart = await readFeedUntil(undefined, (seen) => keysOf(seen, ids).length >= total, {
            limit: 10_000,
          });
          for (const [label, events] of [
            ['reader', seenByReader],
            ['from start', fromStart.events],
          ] as const) {
            const keys = keysOf(events, ids);
            expect(new Set(keys).size, `${label}: duplicates`).toBe(keys.length);
            expect(keys.length, `${label}: count`).toBe(total);
            for (const runId of runIds) {
              const seqs = events.filter((event) => event.runId === runId).map((event) => event.seq);
              expect(seqs, `${label}: run ${runId} in seq order`).toEqual(
                Array.from({ length: expectedCount.get(runId)! }, (_, i) => i + 1),
              );
            }
            expectOrderedCursors(events);
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
