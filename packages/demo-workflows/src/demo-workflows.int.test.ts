import { createTestEngine, type TestEngine } from '@runstream/engine/testing';
import { testBackends, waitForStatus } from '@runstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countdown, flaky, sleep, tokens } from './index.js';

describe.each(testBackends)('the demo workflows on the engine on %s', (backend) => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await createTestEngine({ backend, workflows: [countdown, tokens, flaky, sleep] });
  });
  afterAll(() => t?.close());

  it('runs demo.tokens to completion with every chunk once, in order', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text: 'one two three four', intervalMs: 1 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ text: 'one two three four', words: 4 });
    const events = await t.runtime.eventLog.read(run.id);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, i) => i + 1));
    const chunks = events.filter((event) => event.type === 'step.chunk').map((event) => event.data);
    expect(chunks.map((chunk) => ('data' in chunk ? chunk.data : null)).join('')).toBe('one two three four');
  });

  it('retries a flaky step and records each failed attempt', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.flaky', input: { failures: 2, backoffMs: 5 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ succeededOnAttempt: 3 });
    const [step] = await t.engine.steps(run.id);
    expect(step).toMatchObject({ name: 'unreliable', status: 'completed', attempts: 3 });
  });

  it('sleeps durably and wakes up', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.sleep', input: { ms: 300 } });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    const types = (await t.runtime.eventLog.read(run.id)).map((event) => event.type);
    expect(types).toEqual(['run.created', 'run.started', 'run.sleeping', 'run.started', 'run.succeeded']);
  });

  it('cancels a running countdown', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 100, intervalMs: 50 } });
    await waitForStatus(t.runtime, run.id, 'running');
    await t.engine.cancelRun(run.id);
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('cancelled');
  });
});
