import { chunkKey, RunNotFoundError, UnknownWorkflowError, ValidationError, type RunEvent } from '@runstream/domain';
import { testBackends, waitForStatus } from '@runstream/testkit';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEngine, type TestEngine } from './testing/index.js';
import { defineWorkflow, NonRetryableError } from './workflow.js';

// What a run records about its execution, and what it refuses to record: input validation before anything is
// written, the workflow version, per-step history, replay without re-running completed steps or duplicating
// emitted output, and chunk idempotency.


const calls = new Map<string, number>();
function called(runId: string, step: string): number {
  const key = `${runId}:${step}`;
  const n = (calls.get(key) ?? 0) + 1;
  calls.set(key, n);
  return n;
}
const invocations = (runId: string, step: string) => calls.get(`${runId}:${step}`) ?? 0;

const validated = defineWorkflow({
  name: 'test.validated',
  input: z.object({ count: z.number().int().min(1), order: z.object({ items: z.array(z.object({ sku: z.string() })) }) }),
  async run() {
    return null;
  },
});

/** Three steps: one slow, one failing once, one failing for good. */
const audited = defineWorkflow({
  name: 'test.audited',
  input: z.object({}),
  async run(ctx) {
    await ctx.step('fetch', async () => {
      await delay(40);
      return { rows: 3 };
    });
    await ctx.step(
      'parse',
      async ({ attempt }) => {
        if (attempt === 1) throw new Error('truncated payload');
        return { parsed: 3 };
      },
      { retries: 1, backoff: { baseMs: 10, maxMs: 20 } },
    );
    await ctx.step('store', async () => {
      throw new NonRetryableError('table is read-only');
    });
  },
});

/** Emits and completes a step, sleeps durably, then a step that needs a retry: three executions in all. */
const replayed = defineWorkflow({
  name: 'test.replayed',
  input: z.object({ sleepMs: z.number().int().min(0) }),
  async run(ctx, { sleepMs }) {
    const a = await ctx.step('a', async () => ({ a: called(ctx.runId, 'a') }));
    await ctx.emit({ after: 'a' });
    await ctx.sleep(sleepMs);
    const b = await ctx.step(
      'b',
      async ({ attempt }) => {
        called(ctx.runId, 'b');
        if (attempt === 1) throw new Error('b fails once');
        return { b: attempt };
      },
      { retries: 1, backoff: { baseMs: 20, maxMs: 40 } },
    );
    await ctx.emit({ after: 'b' });
    return { a, b };
  },
});

/** Streams chunks; `replayFirst` pre-writes chunk 0 of the attempt as an earlier incarnation of it would have. */
const chunked = defineWorkflow({
  name: 'test.chunked',
  input: z.object({ words: z.array(z.string()), replayFirst: z.boolean() }),
  async run(ctx, { words, replayFirst }) {
    return ctx.step('stream', async ({ attempt, chunk }) => {
      if (replayFirst) await prewrite(ctx.runId, attempt);
      for (const word of words) await chunk(word);
      return words.length;
    });
  },
});
let prewrite: (runId: string, attempt: number) => Promise<void> = async () => {};

const ofType = <T extends RunEvent['type']>(events: RunEvent[], type: T) =>
  events.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);

describe.each(testBackends)('execution history on %s', (backend) => {
  let t: TestEngine;
  beforeAll(async () => {
    // A long lease, so a busy machine never hands a run to a second execution (crash recovery is tested elsewhere).
    t = await createTestEngine({ backend, workflows: [validated, audited, replayed, chunked], leaseMs: 10_000 });
    prewrite = async (runId, attempt) => {
      await t.runtime.eventLog.append(runId, [
        { type: 'step.chunk', data: { step: 'stream', attempt, index: 0, data: 'earlier' }, key: chunkKey('stream', attempt, 0) },
      ]);
    };
  });
  afterAll(() => t?.close());

  it('rejects input failing the workflow schema with the field named, writing nothing', async () => {
    const attempts: [unknown, string][] = [
      [{ count: 'ten', order: { items: [] } }, 'input.count'],
      [{ count: 0, order: { items: [] } }, 'input.count'],
      [{ count: 1, order: { items: [{ sku: 7 }] } }, 'input.order.items[0].sku'],
      [null, 'input'],
    ];
    for (const [input, field] of attempts) {
      const error = await t.engine.startRun({ workflow: 'test.validated', input }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    expect((await t.runtime.runs.list({ workflow: 'test.validated' })).runs).toEqual([]);

    const unknown = await t.engine.startRun({ workflow: 'no.such.workflow', input: {} }).catch((caught: unknown) => caught);
    expect(unknown).toBeInstanceOf(UnknownWorkflowError);
    expect(unknown).toMatchObject({ code: 'UNKNOWN_WORKFLOW', field: 'workflow' });
    expect((await t.runtime.runs.list({ workflow: 'no.such.workflow' })).runs).toEqual([]);

    // The same input, valid, is accepted (the refusals above were about the input, not the workflow).
    const { run } = await t.engine.startRun({ workflow: 'test.validated', input: { count: 1, order: { items: [] } } });
    expect((await t.runtime.runs.list({ workflow: 'test.validated' })).runs.map((r) => r.id)).toEqual([run.id]);
  });

  it('records the workflow version on the run and reports each step’s status, attempts, duration, output, error', async () => {
    expect(audited.version).toMatch(/^[0-9a-f]{16}$/);
    const { run } = await t.engine.startRun({ workflow: 'test.audited', input: {} });
    expect(run.workflowVersion).toBe(audited.version);
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('failed');
    expect(done.workflowVersion).toBe(audited.version);
    const [created] = await t.runtime.eventLog.read(run.id, { limit: 1 });
    expect(created).toMatchObject({ type: 'run.created', data: { workflowVersion: audited.version } });

    const [fetch, parse, store, ...rest] = await t.engine.steps(run.id);
    expect(rest).toEqual([]);
    expect(fetch).toMatchObject({ name: 'fetch', status: 'completed', attempts: 1, output: { rows: 3 }, error: null, chunks: 0 });
    expect(fetch!.durationMs).toBeGreaterThanOrEqual(35);
    expect(fetch!.finishedAt!.getTime()).toBeGreaterThanOrEqual(fetch!.startedAt.getTime());
    expect(parse).toMatchObject({ name: 'parse', status: 'completed', attempts: 2, output: { parsed: 3 }, error: null });
    expect(store).toMatchObject({
      name: 'store',
      status: 'failed',
      attempts: 1,
      output: null,
      error: { name: 'NonRetryableError', message: 'table is read-only' },
    });
    expect(store!.finishedAt).toBeInstanceOf(Date);
    // The parse step's duration sums both attempts, as recorded on their events.
    const events = await t.runtime.eventLog.read(run.id);
    const parseDurations = events.flatMap((event) =>
      (event.type === 'step.failed' || event.type === 'step.completed') && event.data.step === 'parse' ? [event.data.durationMs] : [],
    );
    expect(parseDurations).toHaveLength(2);
    expect(parse!.durationMs).toBe(parseDurations[0]! + parseDurations[1]!);

    await expect(t.engine.steps('0190a0f0-0000-7000-8000-000000000000')).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('replays a re-executed run without re-running completed steps or duplicating emitted output', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.replayed', input: { sleepMs: 100 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ a: { a: 1 }, b: { b: 2 } });
    expect(invocations(run.id, 'a')).toBe(1);
    expect(invocations(run.id, 'b')).toBe(2);

    const events = await t.runtime.eventLog.read(run.id);
    // Executed three times: the start, the wake-up after the sleep, the retry of b.
    expect(ofType(events, 'run.started').map((event) => event.data.attempt)).toEqual([1, 2, 3]);
    expect(done.attempts).toBe(3);
    const outputs = ofType(events, 'run.output');
    expect(outputs.map((event) => [event.key, event.data.data])).toEqual([
      ['emit:0', { after: 'a' }],
      ['emit:1', { after: 'b' }],
    ]);
    expect(ofType(events, 'step.started').map((event) => `${event.data.step}#${event.data.attempt}`)).toEqual(['a#1', 'b#1', 'b#2']);
    expect(ofType(events, 'step.completed').map((event) => event.data.step)).toEqual(['a', 'b']);
  });

  it('appends a chunk with the same (step, attempt, index) key once, however often it is appended', async () => {
    // A run in the running state that no worker executes: an API-only engine, its log written directly.
    const api = await createTestEngine({ backend, workflows: [chunked], worker: false });
    try {
      const { run: target } = await api.engine.startRun({ workflow: 'test.chunked', input: { words: [], replayFirst: false } });
      await api.runtime.eventLog.append(target.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'test' } }]);
      const chunk = (index: number, data: string, attempt = 1) => ({
        type: 'step.chunk' as const,
        data: { step: 's', attempt, index, data },
        key: chunkKey('s', attempt, index),
      });

      const first = await api.runtime.eventLog.append(target.id, [chunk(0, 'hello')]);
      expect(first.events).toHaveLength(1);
      const again = await api.runtime.eventLog.append(target.id, [chunk(0, 'hello')]);
      expect(again.events).toEqual([]);
      expect(again.lastSeq).toBe(first.lastSeq);
      // Concurrent duplicates: one wins, the other is a no-op.
      const racing = await Promise.all([1, 2, 3].map(() => api.runtime.eventLog.append(target.id, [chunk(1, 'world')])));
      expect(racing.map((result) => result.events.length).sort()).toEqual([0, 0, 1]);
      // A batch repeating a key already held writes only the fresh events.
      const mixed = await api.runtime.eventLog.append(target.id, [chunk(0, 'hello'), chunk(2, '!'), chunk(0, 'hello', 2)]);
      expect(mixed.events.map((event) => event.key)).toEqual([chunkKey('s', 1, 2), chunkKey('s', 2, 0)]);

      const chunks = ofType(await api.runtime.eventLog.read(target.id), 'step.chunk');
      expect(chunks.map((event) => [event.data.attempt, event.data.index, event.data.data])).toEqual([
        [1, 0, 'hello'],
        [1, 1, 'world'],
        [1, 2, '!'],
        [2, 0, 'hello'],
      ]);
    } finally {
      await api.close();
    }
  });

  it('does not duplicate a chunk an earlier incarnation of the same attempt already wrote', async () => {
    const { run } = await t.engine.startRun({ workflow: 'test.chunked', input: { words: ['one', 'two', 'three'], replayFirst: true } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    const chunks = ofType(await t.runtime.eventLog.read(run.id), 'step.chunk');
    // Chunk 0 was already in the log under its key, so the step's own chunk 0 was a no-op.
    expect(chunks.map((event) => [event.data.index, event.data.data])).toEqual([
      [0, 'earlier'],
      [1, 'two'],
      [2, 'three'],
    ]);
    const [step] = await t.engine.steps(run.id);
    expect(step).toMatchObject({ name: 'stream', status: 'completed', chunks: 3, output: 3 });
  });
});
