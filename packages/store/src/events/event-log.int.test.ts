import { ConcurrencyError, IllegalTransitionError, RunNotFoundError, ValidationError, chunkKey } from '@runstream/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../testing/index.js';

let runtime: TestStore;
beforeAll(async () => {
  runtime = await createTestStore();
});
afterAll(() => runtime?.close());

const started = { type: 'run.started', data: { attempt: 1, workerId: 'w1' } } as const;

async function newRun(workflow = 'test.flow') {
  return runtime.createRun(workflow, { n: 1 });
}

async function seqs(runId: string) {
  return (await runtime.eventLog.read(runId, { limit: 10_000 })).map((event) => event.seq);
}

describe('append', () => {
  it('assigns dense seqs after run.created and updates the projection in the same statement', async () => {
    const run = await newRun();
    expect(run.lastSeq).toBe(1);
    const first = await runtime.eventLog.append(run.id, [started]);
    expect(first.events.map((event) => event.seq)).toEqual([2]);
    const batch = await runtime.eventLog.append(run.id, [
      { type: 'step.started', data: { step: 'a', attempt: 1 } },
      { type: 'step.completed', data: { step: 'a', attempt: 1, durationMs: 3, output: { ok: true } } },
      { type: 'run.succeeded', data: { output: 42 } },
    ]);
    expect(batch.events.map((event) => event.seq)).toEqual([3, 4, 5]);
    expect(await seqs(run.id)).toEqual([1, 2, 3, 4, 5]);
    const stored = await runtime.getRun(run.id);
    expect(stored).toMatchObject({ status: 'succeeded', lastSeq: 5, attempts: 1, output: 42 });
    expect(stored?.finishedAt).toBeInstanceOf(Date);
  });

  it('rejects an event that fails its schema, naming the field, and writes nothing', async () => {
    const run = await newRun();
    const error = await runtime.eventLog
      .append(run.id, [started, { type: 'step.started', data: { step: 'a', attempt: 0 } }])
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('events[1].data.attempt');
    expect(await seqs(run.id)).toEqual([1]);
    expect((await runtime.getRun(run.id))?.status).toBe('queued');
  });

  it('rejects an unknown event type by field', async () => {
    const run = await newRun();
    await expect(runtime.eventLog.append(run.id, [{ type: 'nope', data: {} }])).rejects.toMatchObject({
      field: 'events[0].type',
    });
  });

  it('rejects an illegal transition and writes nothing', async () => {
    const run = await newRun();
    await expect(
      runtime.eventLog.append(run.id, [{ type: 'run.succeeded', data: { output: null } }]),
    ).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(await seqs(run.id)).toEqual([1]);
  });

  it('fails with a ConcurrencyError when expectedSeq is stale', async () => {
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started], { expectedSeq: 1 });
    const error = await runtime.eventLog
      .append(run.id, [{ type: 'run.cancel_requested', data: {} }], { expectedSeq: 1 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect(error).toMatchObject({ expectedSeq: 1, actualSeq: 2 });
    expect(await seqs(run.id)).toEqual([1, 2]);
  });

  it('fails with RunNotFoundError for an unknown run', async () => {
    await expect(runtime.eventLog.append('0190c2a4-0000-7000-8000-000000000000', [started])).rejects.toBeInstanceOf(
      RunNotFoundError,
    );
  });

  it('drops events whose key the run already holds, so a replayed chunk is a no-op', async () => {
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started]);
    const chunk = (index: number) => ({
      type: 'step.chunk' as const,
      data: { step: 's', attempt: 1, index, data: `t${index}` },
      key: chunkKey('s', 1, index),
    });
    await runtime.eventLog.append(run.id, [chunk(0), chunk(1)]);
    const replay = await runtime.eventLog.append(run.id, [chunk(0), chunk(1), chunk(2)]);
    expect(replay.events.map((event) => event.seq)).toEqual([5]);
    const again = await runtime.eventLog.append(run.id, [chunk(2)]);
    expect(again.events).toEqual([]);
    expect(again.lastSeq).toBe(5);
    expect(await seqs(run.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps seqs dense under concurrent appenders on one run', async () => {
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started]);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        runtime.eventLog.append(run.id, [{ type: 'run.output', data: { data: i } }]),
      ),
    );
    expect(await seqs(run.id)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
  });
});

describe('read', () => {
  it('pages by seq and streams a long run with bounded pages', async () => {
    const run = await newRun();
    await runtime.eventLog.append(run.id, [started]);
    await runtime.eventLog.append(
      run.id,
      Array.from({ length: 250 }, (_, i) => ({ type: 'run.output', data: { data: i } })),
    );
    const page = await runtime.eventLog.read(run.id, { fromSeq: 100, limit: 10 });
    expect(page.map((event) => event.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    const all: number[] = [];
    for await (const event of runtime.eventLog.readStream(run.id, { fromSeq: 5, limit: 64 })) all.push(event.seq);
    expect(all).toEqual(Array.from({ length: 248 }, (_, i) => i + 5));
  });

  it('rejects a fromSeq below 1', async () => {
    const run = await newRun();
    await expect(runtime.eventLog.read(run.id, { fromSeq: -1 })).rejects.toThrow(/fromSeq/);
  });
});
