import { describe, expect, it } from 'vitest';
import type { NewEvent, RunEvent } from './events.js';
import { foldStepHistory, nextUnconsumedSignal, stepHistory } from './step-history.js';

const runId = '00000000-0000-4000-8000-000000000001';
const boom = { name: 'Error', message: 'boom' };
const at = (second: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, second));

/** A log in seq order, the n-th event recorded at second n. */
function log(events: NewEvent[]): RunEvent[] {
  return events.map((event, i) => ({ ...event, runId, seq: i + 1, createdAt: at(i + 1) }));
}

describe('signal waits in the history', () => {
  it('records waits and their outcomes, and hands out received signals oldest first, each once', () => {
    const history = foldStepHistory(
      log([
        { type: 'run.created', data: { workflow: 'wf', input: null } },
        { type: 'signal.received', data: { signal: 'go', data: 1 } },
        { type: 'signal.received', data: { signal: 'stop', data: 2 } },
        { type: 'signal.received', data: { signal: 'go', data: 3 } },
        { type: 'signal.consumed', data: { wait: 'wait:0', signal: 'go', seq: 2 } },
        { type: 'run.waiting', data: { wait: 'wait:1', signal: 'go', until: at(30).toISOString() } },
        { type: 'run.waiting', data: { wait: 'wait:2', signal: 'late' } },
        { type: 'signal.timed_out', data: { wait: 'wait:1', signal: 'go' } },
      ]),
    );
    expect(history.waits.get('wait:0')).toEqual({ signal: 'go', until: null, outcome: { kind: 'consumed', seq: 2 } });
    expect(history.waits.get('wait:1')).toEqual({ signal: 'go', until: at(30), outcome: { kind: 'timed_out' } });
    expect(history.waits.get('wait:2')).toEqual({ signal: 'late', until: null, outcome: null });
    expect(nextUnconsumedSignal(history, 'go')).toEqual({ seq: 4, signal: 'go', data: 3 });
    expect(nextUnconsumedSignal(history, 'stop')?.seq).toBe(3);
    expect(nextUnconsumedSignal(history, 'late')).toBeUndefined();
  });
});

describe('step history', () => {
  it('follows a step through a scheduled retry to completion, summing the attempts’ time and counting chunks', () => {
    const history = foldStepHistory(
      log([
        { type: 'step.started', data: { step: 'fetch', attempt: 1 } },
        { type: 'step.chunk', data: { step: 'fetch', attempt: 1, index: 0, data: 'a' } },
        { type: 'step.failed', data: { step: 'fetch', attempt: 1, durationMs: 5, error: boom, retryAt: at(30).toISOString() } },
      ]),
    );
    expect(history.steps.get('fetch')).toMatchObject({ status: 'retrying', attempt: 1, retryAt: at(30), error: boom });

    const done = foldStepHistory(
      log([
        { type: 'step.started', data: { step: 'fetch', attempt: 2 } },
        { type: 'step.chunk', data: { step: 'fetch', attempt: 2, index: 0, data: 'b' } },
        { type: 'step.completed', data: { step: 'fetch', attempt: 2, durationMs: 7, output: { ok: true } } },
      ]),
      history,
    );
    expect(done.steps.get('fetch')).toMatchObject({
      status: 'completed',
      attempt: 2,
      attemptsInBudget: 2,
      startedAt: at(1),
      attemptStartedAt: at(1),
      durationMs: 12,
      output: { ok: true },
      error: null,
      retryAt: null,
      chunks: 2,
    });
  });

  it('ignores the outcome of an attempt older than the latest one started', () => {
    const history = foldStepHistory(
      log([
        { type: 'step.started', data: { step: 's', attempt: 1 } },
        { type: 'step.started', data: { step: 's', attempt: 2 } },
        { type: 'step.failed', data: { step: 's', attempt: 1, durationMs: 3, error: boom } },
        { type: 'step.completed', data: { step: 's', attempt: 1, durationMs: 3, output: 'late' } },
      ]),
    );
    expect(history.steps.get('s')).toMatchObject({ status: 'running', attempt: 2, durationMs: 0, output: null, error: null });
  });

  it('starts a new retry budget at run.retried, keeps completed outputs, and records durable timers', () => {
    const history = foldStepHistory(
      log([
        { type: 'step.started', data: { step: 'a', attempt: 1 } },
        { type: 'step.completed', data: { step: 'a', attempt: 1, durationMs: 1, output: 1 } },
        { type: 'run.sleeping', data: { name: 'sleep:0', until: at(40).toISOString() } },
        { type: 'step.started', data: { step: 'b', attempt: 1 } },
        { type: 'step.failed', data: { step: 'b', attempt: 1, durationMs: 1, error: boom } },
        { type: 'run.failed', data: { error: boom, step: 'b' } },
        { type: 'run.retried', data: {} },
      ]),
    );
    expect(history.steps.get('a')).toMatchObject({ status: 'completed', output: 1, attemptsInBudget: 0 });
    expect(history.steps.get('b')).toMatchObject({ status: 'failed', attempt: 1, attemptsInBudget: 0 });
    expect(history.sleeps).toEqual(new Map([['sleep:0', at(40)]]));
  });

  it('summarises steps in the order they first started', () => {
    const summaries = stepHistory(
      log([
        { type: 'step.started', data: { step: 'second', attempt: 1 } },
        { type: 'step.started', data: { step: 'first', attempt: 1 } },
        { type: 'step.completed', data: { step: 'first', attempt: 1, durationMs: 2, output: null } },
      ]),
    );
    expect(summaries.map((step) => [step.name, step.status, step.attempts])).toEqual([
      ['second', 'running', 1],
      ['first', 'completed', 1],
    ]);
  });
});
