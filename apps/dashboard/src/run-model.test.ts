import { describe, expect, it } from 'vitest';
import type { Run, RunEvent } from '../web/types.js';
import { applyRunEvent, emptyRunModel, matchesFilter, patchRun, stepText } from '../web/run-model.js';

const runId = '00000000-0000-4000-8000-000000000001';
let clock = Date.parse('2026-01-01T00:00:00Z');
const event = (seq: number, type: string, data: unknown = {}) =>
  ({ runId, seq, type, data, createdAt: new Date((clock += 10)).toISOString() }) as RunEvent;

describe('run model', () => {
  it('takes each seq once, in order, and reports a gap instead of rendering past it', () => {
    const model = emptyRunModel();
    expect(applyRunEvent(model, event(1, 'run.created', { workflow: 'demo.tokens', input: {} }))).toBe('applied');
    expect(applyRunEvent(model, event(1, 'run.created', { workflow: 'demo.tokens', input: {} }))).toBe('duplicate');
    expect(applyRunEvent(model, event(3, 'step.started', { step: 'generate', attempt: 1 }))).toBe('gap');
    expect(applyRunEvent(model, event(2, 'run.started', { attempt: 1, workerId: 'w' }))).toBe('applied');
    expect(model.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(model.lastSeq).toBe(2);
    expect(model.status).toBe('running');
  });

  it('renders only the chunks of a step’s latest attempt', () => {
    const model = emptyRunModel();
    const events = [
      event(1, 'run.created', { workflow: 'demo.tokens', input: {} }),
      event(2, 'run.started', { attempt: 1, workerId: 'w' }),
      event(3, 'step.started', { step: 'generate', attempt: 1 }),
      event(4, 'step.chunk', { step: 'generate', attempt: 1, index: 0, data: 'Hello ' }),
      event(5, 'step.chunk', { step: 'generate', attempt: 1, index: 1, data: 'wor' }),
      event(6, 'run.started', { attempt: 2, workerId: 'w2' }),
      event(7, 'step.started', { step: 'generate', attempt: 2 }),
      event(8, 'step.chunk', { step: 'generate', attempt: 2, index: 0, data: 'Hello ' }),
      // A late chunk of the abandoned attempt must not reappear.
      event(9, 'step.chunk', { step: 'generate', attempt: 1, index: 2, data: 'ld' }),
      event(10, 'step.chunk', { step: 'generate', attempt: 2, index: 1, data: 'world' }),
      event(11, 'step.completed', { step: 'generate', attempt: 2, durationMs: 12, output: 'Hello world' }),
      event(12, 'run.succeeded', { output: { text: 'Hello world' } }),
    ];
    for (const e of events) expect(applyRunEvent(model, e)).toBe('applied');
    const step = model.steps.get('generate')!;
    expect(stepText(step)).toBe('Hello world');
    expect(step).toMatchObject({ status: 'completed', attempt: 2, durationMs: 12 });
    expect(model).toMatchObject({ status: 'succeeded', output: { text: 'Hello world' } });
  });

  it('follows a step through failures, retries and a run retry', () => {
    const model = emptyRunModel();
    const error = { name: 'Error', message: 'boom' };
    for (const e of [
      event(1, 'run.created', { workflow: 'x', input: {} }),
      event(2, 'run.started', { attempt: 1, workerId: 'w' }),
      event(3, 'step.started', { step: 's', attempt: 1 }),
      event(4, 'step.failed', { step: 's', attempt: 1, durationMs: 5, error, retryAt: '2026-01-01T00:01:00.000Z' }),
    ]) applyRunEvent(model, e);
    expect(model.steps.get('s')).toMatchObject({ status: 'retrying', error, retryAt: '2026-01-01T00:01:00.000Z' });
    applyRunEvent(model, event(5, 'step.started', { step: 's', attempt: 2 }));
    applyRunEvent(model, event(6, 'step.failed', { step: 's', attempt: 2, durationMs: 7, error }));
    applyRunEvent(model, event(7, 'run.failed', { error, step: 's' }));
    expect(model.steps.get('s')).toMatchObject({ status: 'failed', attempt: 2, durationMs: 12 });
    expect(model).toMatchObject({ status: 'failed', error });
    applyRunEvent(model, event(8, 'run.retried', {}));
    expect(model).toMatchObject({ status: 'queued', error: null, finishedAt: null });
    applyRunEvent(model, event(9, 'run.cancel_requested', {}));
    expect(model.cancelRequested).toBe(true);
  });
});

describe('runs list patches', () => {
  const run: Run = {
    id: runId,
    workflow: 'demo.countdown',
    workflowVersion: 'v',
    input: {},
    status: 'queued',
    idempotencyKey: null,
    parentRunId: null,
    after: [],
    lastSeq: 1,
    attempts: 0,
    retries: 0,
    cancelRequested: false,
    output: null,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    concurrencyKey: null,
    waitingReason: null,
    waiting: null,
  };

  it('applies newer lifecycle events and ignores ones the row already reflects', () => {
    const started = patchRun(run, event(2, 'run.started', { attempt: 1, workerId: 'w' }))!;
    expect(started).toMatchObject({ status: 'running', attempts: 1, lastSeq: 2 });
    expect(started.startedAt).not.toBeNull();
    expect(patchRun(started, event(2, 'run.started', { attempt: 1, workerId: 'w' }))).toBeNull();
    const failed = patchRun(started, event(9, 'run.failed', { error: { name: 'E', message: 'm' } }))!;
    expect(failed).toMatchObject({ status: 'failed', error: { name: 'E', message: 'm' } });
    expect(matchesFilter(failed, { status: 'failed' })).toBe(true);
    expect(matchesFilter(failed, { status: 'running' })).toBe(false);
    expect(matchesFilter(failed, { workflow: 'demo.tokens' })).toBe(false);
  });
});
