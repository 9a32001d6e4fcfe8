import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../testing/index.js';

let runtime: TestStore;
beforeAll(async () => {
  runtime = await createTestStore();
});
afterAll(() => runtime?.close());

const failure = { name: 'Error', message: 'boom "quoted"\nnext line', stack: 'Error: boom\n    at step (x.ts:1:1)' };

describe('readEncoded', () => {
  it('gives each event as the JSON a client receives: the stored event without its key, stacks only when asked', async () => {
    const run = await runtime.createRun('encoded', { text: 'ünïcode \u2028 "q" \\ /', n: 1.5 });
    await runtime.eventLog.append(run.id, [
      { type: 'run.started', data: { attempt: 1, workerId: 'w1' } },
      { type: 'run.output', data: { data: { nested: [1, null, true, 'x'] } }, key: 'emit:0' },
      { type: 'step.started', data: { step: 'a', attempt: 1 } },
      { type: 'step.failed', data: { step: 'a', attempt: 1, durationMs: 2, error: failure } },
    ]);
    const events = await runtime.eventLog.read(run.id);
    const asClientSees = (withStacks: boolean) =>
      events.map(({ key: _key, ...event }) => {
        const data = event.data as { error?: Record<string, unknown> };
        const { stack: _stack, ...errorWithoutStack } = data.error ?? {};
        return JSON.parse(
          JSON.stringify({ ...event, data: data.error && !withStacks ? { ...data, error: errorWithoutStack } : data }),
        ) as unknown;
      });

    for (const withStacks of [false, true]) {
      const encoded = await runtime.eventLog.readEncoded(run.id, { withStacks });
      expect(encoded.map((event) => [event.seq, event.type])).toEqual(events.map((event) => [event.seq, event.type]));
      expect(encoded.every((event) => !event.json.includes('\n'))).toBe(true);
      expect(encoded.map((event) => JSON.parse(event.json) as unknown)).toEqual(asClientSees(withStacks));
    }
    const page = await runtime.eventLog.readEncoded(run.id, { fromSeq: 3, limit: 2, withStacks: false });
    expect(page.map((event) => event.seq)).toEqual([3, 4]);
  });
});
