import { IdempotencyKeyReusedError, InvalidCursorError, ManualClock, ValidationError, type RunStatus } from '@runstream/domain';
import { outbox, runEvents, runs } from '@runstream/db';
import { and, count, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from './run.js';
import { createTestStore, type TestStore } from '../testing/index.js';

let runtime: TestStore;

beforeAll(async () => {
  runtime = await createTestStore();
});
afterAll(() => runtime?.close());

async function countRows(table: typeof runs | typeof runEvents | typeof outbox): Promise<number> {
  const [row] = await runtime.store.db.select({ n: count() }).from(table);
  return row!.n;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('create', () => {
  it('creates a queued run with run.created at seq 1 and an outbox row, in one go', async () => {
    const before = Date.now();
    const { run, created } = await runtime.runs.create({
      workflow: 'email.send',
      input: { to: 'ada@example.com', tags: ['a', 'b'], n: 1.5, ok: true, none: null },
      workflowVersion: 'v3',
    });
    expect(created).toBe(true);
    expect(run).toMatchObject({
      workflow: 'email.send',
      workflowVersion: 'v3',
      input: { to: 'ada@example.com', tags: ['a', 'b'], n: 1.5, ok: true, none: null },
      status: 'queued',
      idempotencyKey: null,
      lastSeq: 1,
      attempts: 0,
      retries: 0,
      cancelRequested: false,
      output: null,
      error: null,
      startedAt: null,
      finishedAt: null,
    });
    expect(run.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(run.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(run.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 1);
    expect(run.updatedAt).toEqual(run.createdAt);

    const events = await runtime.eventLog.read(run.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      runId: run.id,
      seq: 1,
      type: 'run.created',
      data: { workflow: 'email.send', input: run.input, workflowVersion: 'v3' },
    });
    expect(events[0]!.createdAt).toEqual(run.createdAt);

    const rows = await runtime.store.db.select().from(outbox).where(eq(outbox.runId, run.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      runId: run.id,
      firstSeq: 1,
      lastSeq: 1,
      eventTypes: ['run.created'],
      publishedAt: null,
      failedAt: null,
      attempts: 0,
    });

    expect(await runtime.runs.get(run.id)).toEqual(run);
  });

  it('accepts any JSON value as input, scalars included', async () => {
    for (const input of ['plain', 0, false, null, [], [{ deep: [1, { x: 'y' }] }]]) {
      const { run } = await runtime.runs.create({ workflow: 'json.kinds', input });
      expect((await runtime.runs.get(run.id))?.input).toEqual(input);
      expect((await runtime.eventLog.read(run.id))[0]?.data).toEqual({ workflow: 'json.kinds', input });
    }
  });

  it('returns the first run for a repeated idempotency key with the same workflow and input (in any key order)', async () => {
    const first = await runtime.runs.create({ workflow: 'idem.seq', input: { v: 1, w: [1, { a: 1, b: 2 }] }, idempotencyKey: 'idem-seq-1' });
    const second = await runtime.runs.create({ workflow: 'idem.seq', input: { w: [1, { b: 2, a: 1 }], v: 1 }, idempotencyKey: 'idem-seq-1' });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.run).toEqual(first.run);
    expect(await runtime.runs.getByIdempotencyKey('idem-seq-1')).toEqual(first.run);
    expect(await runtime.runs.getByIdempotencyKey('never-used')).toBeNull();
  });

  it('refuses a repeated idempotency key with another workflow or input (IdempotencyKeyReusedError) and writes nothing', async () => {
    const { run } = await runtime.runs.create({ workflow: 'idem.reuse', input: { v: 1 }, idempotencyKey: 'idem-reuse-1' });
    const before = await Promise.all([countRows(runs), countRows(runEvents), countRows(outbox)]);
    for (const [workflow, input] of [
      ['idem.reuse', { v: 2 }],
      ['idem.reuse', { v: 1, extra: null }],
      ['idem.reuse', [{ v: 1 }]],
      ['idem.other', { v: 1 }],
    ] as const) {
      const error = await rejection(runtime.runs.create({ workflow, input, idempotencyKey: 'idem-reuse-1' }));
      expect(error, JSON.stringify([workflow, input])).toBeInstanceOf(IdempotencyKeyReusedError);
      expect(error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'idempotencyKey', runId: run.id });
      // The message names the run, never the input (it ends up in logs).
      expect((error as Error).message).not.toContain('"v"');
    }
    expect(await Promise.all([countRows(runs), countRows(runEvents), countRows(outbox)])).toEqual(before);
  });

  it('refuses idempotency keys with lone surrogates, which would otherwise meet as U+FFFD', async () => {
    const before = await countRows(runs);
    for (const idempotencyKey of ['idem-\ud800', 'idem-\udc00', '\ud83d']) {
      const error = await rejection(runtime.runs.create({ workflow: 'idem.surrogate', input: 1, idempotencyKey }));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('idempotencyKey');
    }
    expect(await countRows(runs)).toBe(before);
    // A well-formed pair is an ordinary key.
    expect((await runtime.runs.create({ workflow: 'idem.surrogate', input: 1, idempotencyKey: 'idem-\ud83d\ude00' })).created).toBe(true);
  });

  it('50 concurrent creates with one idempotency key make exactly one run and one run.created', async () => {
    const key = 'idem-concurrent-50';
    const workflow = 'idem.concurrent';
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => runtime.runs.create({ workflow, input: { n: 1 }, idempotencyKey: key })),
    );
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected.map((result) => String(result.reason))).toEqual([]);
    const values = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    expect(values).toHaveLength(50);
    expect(values.filter((value) => value.created)).toHaveLength(1);
    const ids = new Set(values.map((value) => value.run.id));
    expect(ids.size).toBe(1);
    const [id] = ids;

    const rows = await runtime.store.db.select().from(runs).where(eq(runs.idempotencyKey, key));
    expect(rows.map((row) => row.id)).toEqual([id]);
    expect(await runtime.store.db.select().from(runs).where(eq(runs.workflow, workflow))).toHaveLength(1);

    const created = await runtime.store.db
      .select()
      .from(runEvents)
      .where(and(eq(runEvents.type, 'run.created'), sql`${runEvents.data}->>'workflow' = ${workflow}`));
    expect(created.map((event) => [event.runId, event.seq])).toEqual([[id, 1]]);
    expect(await runtime.store.db.select().from(outbox).where(eq(outbox.runId, id!))).toHaveLength(1);
  });

  describe('rejects bad input with the offending field and writes nothing', () => {
    const cases: [string, unknown, string][] = [
      ['an empty workflow', { workflow: '', input: {} }, 'workflow'],
      ['an over-long workflow', { workflow: 'w'.repeat(201), input: {} }, 'workflow'],
      ['a missing workflow', { input: {} }, 'workflow'],
      ['a non-string workflow', { workflow: 42, input: {} }, 'workflow'],
      ['undefined input', { workflow: 'wf', input: undefined }, 'input'],
      ['a function as input', { workflow: 'wf', input: () => 1 }, 'input'],
      ['a bigint as input', { workflow: 'wf', input: 10n }, 'input'],
      ['an empty idempotency key', { workflow: 'wf', input: {}, idempotencyKey: '' }, 'idempotencyKey'],
      ['an over-long idempotency key', { workflow: 'wf', input: {}, idempotencyKey: 'k'.repeat(301) }, 'idempotencyKey'],
      ['an over-long workflow version', { workflow: 'wf', input: {}, workflowVersion: 'v'.repeat(201) }, 'workflowVersion'],
    ];

    it.each(cases)('%s', async (_label, input, field) => {
      const before = await Promise.all([countRows(runs), countRows(runEvents), countRows(outbox)]);
      const error = await rejection(runtime.runs.create(input as Parameters<typeof runtime.runs.create>[0]));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect(await Promise.all([countRows(runs), countRows(runEvents), countRows(outbox)])).toEqual(before);
    });

    it('rejects input with a non-JSON value nested inside', async () => {
      const before = await countRows(runs);
      const error = await rejection(runtime.runs.create({ workflow: 'wf', input: { a: { b: () => 1 } } }));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('input.a.b');
      expect(await countRows(runs)).toBe(before);
    });
  });
});

describe('get', () => {
  it('returns null for an unknown id', async () => {
    expect(await runtime.runs.get('0190c2a4-0000-7000-8000-000000000000')).toBeNull();
  });

  it.each(['', 'nope', 'not-a-uuid-at-all', 'a'.repeat(36), '-'.repeat(36), '0190c2a4-0000-7000-8000-00000000000g'])(
    'returns null for the non-uuid %j instead of failing',
    async (id) => {
      expect(await runtime.runs.get(id)).toBeNull();
    },
  );

  it('finds a run by its id', async () => {
    const { run } = await runtime.runs.create({ workflow: 'get.me', input: 1 });
    expect(await runtime.runs.get(run.id)).toEqual(run);
  });
});

describe('list', () => {
  const start = Date.UTC(2031, 5, 1);
  const clock = new ManualClock(start);
  let timed: TestStore;
  /** Every run created in `timed`, with the status it was driven to. */
  const created: Run[] = [];

  /** Creates a run at the clock's current time and drives it to `status`. */
  async function runAt(workflow: string, status: RunStatus): Promise<Run> {
    const { run } = await timed.runs.create({ workflow, input: { n: created.length } });
    const started = { type: 'run.started', data: { attempt: 1, workerId: 'w' } } as const;
    if (status === 'running') await timed.eventLog.append(run.id, [started]);
    if (status === 'succeeded') await timed.eventLog.append(run.id, [started, { type: 'run.succeeded', data: { output: 1 } }]);
    if (status === 'failed') {
      await timed.eventLog.append(run.id, [started, { type: 'run.failed', data: { error: { name: 'E', message: 'm' } } }]);
    }
    if (status === 'cancelled') await timed.eventLog.append(run.id, [{ type: 'run.cancelled', data: {} }]);
    const stored = await timed.runs.get(run.id);
    expect(stored?.status).toBe(status);
    created.push(stored!);
    return stored!;
  }

  const newestFirst = (a: Run, b: Run) =>
    b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  const ids = (list: readonly Run[]) => list.map((run) => run.id);
  const expected = (keep: (run: Run) => boolean) => ids(created.filter(keep).sort(newestFirst));

  async function allPages(filter: Parameters<TestStore['runs']['list']>[0]): Promise<{ ids: string[]; pages: number }> {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await timed.runs.list({ ...filter, ...(cursor ? { cursor } : {}) });
      pages += 1;
      seen.push(...ids(page.runs));
      cursor = page.nextCursor;
      expect(pages).toBeLessThan(100);
    } while (cursor);
    return { ids: seen, pages };
  }

  beforeAll(async () => {
    timed = await createTestStore({ clock });
    const plan: [string, RunStatus][] = [
      ['wf.a', 'queued'],
      ['wf.b', 'running'],
      ['wf.a', 'succeeded'],
      ['wf.b', 'failed'],
      ['wf.a', 'cancelled'],
      ['wf.a', 'running'],
      ['wf.b', 'queued'],
      ['wf.a', 'failed'],
      ['wf.b', 'succeeded'],
      ['wf.a', 'queued'],
    ];
    for (const [workflow, status] of plan) {
      clock.advance(60_000);
      await runAt(workflow, status);
    }
    // Four runs in the same millisecond: the page order must break the tie by id.
    clock.advance(60_000);
    for (const status of ['queued', 'running', 'queued', 'succeeded'] as const) await runAt('wf.tie', status);
    clock.advance(60_000);
    await runAt('wf.b', 'queued');
  });
  afterAll(() => timed?.close());

  it('created the runs at the times the manual clock said', () => {
    expect(created).toHaveLength(15);
    expect(created[0]!.createdAt.getTime()).toBe(start + 60_000);
    expect(created[9]!.createdAt.getTime()).toBe(start + 600_000);
    expect(new Set(created.slice(10, 14).map((run) => run.createdAt.getTime()))).toEqual(new Set([start + 660_000]));
  });

  it('returns every run newest first, ties broken by id descending', async () => {
    const page = await timed.runs.list();
    expect(ids(page.runs)).toEqual(expected(() => true));
    expect(page.runs[0]!.id).toBe(created[14]!.id);
    expect(page.runs.at(-1)!.id).toBe(created[0]!.id);
    expect(page.nextCursor).toBeUndefined();
    expect(page.runs[0]).toEqual(created[14]);
  });

  it('filters by workflow', async () => {
    const page = await timed.runs.list({ workflow: 'wf.a' });
    expect(ids(page.runs)).toEqual(expected((run) => run.workflow === 'wf.a'));
    expect(page.runs).toHaveLength(6);
    expect((await timed.runs.list({ workflow: 'wf.none' })).runs).toEqual([]);
  });

  it('filters by a single status', async () => {
    const page = await timed.runs.list({ status: 'running' });
    expect(ids(page.runs)).toEqual(expected((run) => run.status === 'running'));
    expect(page.runs).toHaveLength(3);
    expect(page.runs.every((run) => run.status === 'running')).toBe(true);
  });

  it('filters by several statuses', async () => {
    const page = await timed.runs.list({ status: ['succeeded', 'failed'] });
    expect(ids(page.runs)).toEqual(expected((run) => run.status === 'succeeded' || run.status === 'failed'));
    expect(page.runs).toHaveLength(5);
  });

  it('combines workflow and status filters', async () => {
    const page = await timed.runs.list({ workflow: 'wf.a', status: ['queued', 'cancelled'] });
    expect(ids(page.runs)).toEqual(
      expected((run) => run.workflow === 'wf.a' && (run.status === 'queued' || run.status === 'cancelled')),
    );
    expect(page.runs).toHaveLength(3);
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    const from = created[3]!.createdAt;
    const to = created[7]!.createdAt;
    const after = await timed.runs.list({ createdAfter: from });
    expect(ids(after.runs)).toEqual(expected((run) => run.createdAt >= from));
    expect(after.runs.at(-1)!.id).toBe(created[3]!.id);

    const before = await timed.runs.list({ createdBefore: to });
    expect(ids(before.runs)).toEqual(expected((run) => run.createdAt < to));
    expect(ids(before.runs)).not.toContain(created[7]!.id);
    expect(before.runs).toHaveLength(7);

    const between = await timed.runs.list({ createdAfter: from, createdBefore: to });
    expect(ids(between.runs)).toEqual(ids([created[6]!, created[5]!, created[4]!, created[3]!]));

    expect((await timed.runs.list({ createdAfter: new Date(start + 10_000_000) })).runs).toEqual([]);
    expect((await timed.runs.list({ createdBefore: new Date(start) })).runs).toEqual([]);
  });

  it.each([1, 2, 3, 4, 7])('pages with limit %i through every run exactly once, in order', async (limit) => {
    const { ids: seen, pages } = await allPages({ limit });
    expect(seen).toEqual(expected(() => true));
    expect(new Set(seen).size).toBe(15);
    expect(pages).toBe(Math.ceil(15 / limit));
  });

  it('pages through the same-millisecond runs without skipping or repeating', async () => {
    const { ids: seen, pages } = await allPages({ workflow: 'wf.tie', limit: 1 });
    expect(seen).toEqual(expected((run) => run.workflow === 'wf.tie'));
    expect(seen).toHaveLength(4);
    expect(pages).toBe(4);
  });

  it('keeps the filter across pages', async () => {
    const { ids: seen } = await allPages({ status: ['queued', 'running'], limit: 2 });
    expect(seen).toEqual(expected((run) => run.status === 'queued' || run.status === 'running'));
    expect(seen).toHaveLength(9);
  });

  it('gives no nextCursor when the page holds exactly the rest', async () => {
    const page = await timed.runs.list({ limit: 15 });
    expect(page.runs).toHaveLength(15);
    expect(page.nextCursor).toBeUndefined();
    const short = await timed.runs.list({ limit: 14 });
    expect(short.runs).toHaveLength(14);
    expect(typeof short.nextCursor).toBe('string');
    const rest = await timed.runs.list({ limit: 14, cursor: short.nextCursor! });
    expect(ids(rest.runs)).toEqual([created[0]!.id]);
    expect(rest.nextCursor).toBeUndefined();
  });

  it.each([
    'garbage',
    Buffer.from('2031-06-01T00:00:00.000Z').toString('base64url'),
    Buffer.from('not a date|0190c2a4-0000-7000-8000-000000000000').toString('base64url'),
    Buffer.from(`2031-06-01T00:00:00.000Z|${'-'.repeat(36)}`).toString('base64url'),
    Buffer.from(`2031-06-01T00:00:00.000Z|${'a'.repeat(36)}`).toString('base64url'),
  ])('rejects the bad cursor %j with InvalidCursorError', async (cursor) => {
    const error = await rejection(timed.runs.list({ cursor }));
    expect(error).toBeInstanceOf(InvalidCursorError);
    expect(error).toMatchObject({ cursor, field: 'cursor' });
  });

  it.each([0, 1000, -1, 2.5, 201])('rejects limit %s with a ValidationError on limit', async (limit) => {
    const error = await rejection(timed.runs.list({ limit }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('limit');
  });

  it('accepts the limit bounds 1 and 200', async () => {
    expect((await timed.runs.list({ limit: 1 })).runs).toHaveLength(1);
    expect((await timed.runs.list({ limit: 200 })).runs).toHaveLength(15);
  });

  it.each([['sleeping'], [[]], [['queued', 'sleeping']]])('rejects the status filter %j on status', async (status) => {
    const error = await rejection(timed.runs.list({ status: status as RunStatus[] }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('status');
  });
});
