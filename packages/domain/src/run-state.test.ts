import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from './errors.js';
import { eventTypes, type NewEvent } from './events.js';
import {
  applyEvent,
  applyEvents,
  isTerminal,
  lifecycleEventTypes,
  projectEvent,
  runStatuses,
  terminalStatuses,
  terminalStatusOf,
  type RunState,
  type RunStatus,
} from './run-state.js';

const t0 = new Date('2030-01-01T00:00:00.000Z');
const t1 = new Date('2030-01-01T00:00:01.000Z');
const t2 = new Date('2030-01-01T00:00:02.000Z');
const t3 = new Date('2030-01-01T00:00:03.000Z');

const boom = { name: 'Error', message: 'boom' };

const ev = {
  created: { type: 'run.created', data: { workflow: 'wf', input: { n: 1 } } },
  started: (attempt = 1): NewEvent => ({ type: 'run.started', data: { attempt, workerId: 'w1' } }),
  output: { type: 'run.output', data: { data: 'tick' } },
  sleeping: { type: 'run.sleeping', data: { name: 'nap', until: '2030-01-02T00:00:00.000Z' } },
  cancelRequested: { type: 'run.cancel_requested', data: { reason: 'user' } },
  succeeded: { type: 'run.succeeded', data: { output: { ok: true } } },
  failed: { type: 'run.failed', data: { error: boom, step: 's' } },
  cancelled: { type: 'run.cancelled', data: {} },
  retried: { type: 'run.retried', data: {} },
  stepStarted: { type: 'step.started', data: { step: 's', attempt: 1 } },
  stepChunk: { type: 'step.chunk', data: { step: 's', attempt: 1, index: 0, data: 'x' } },
  stepCompleted: { type: 'step.completed', data: { step: 's', attempt: 1, durationMs: 5, output: 1 } },
  stepFailed: { type: 'step.failed', data: { step: 's', attempt: 1, durationMs: 5, error: boom } },
  waiting: { type: 'run.waiting', data: { wait: 'wait:0', signal: 'go', until: '2030-01-02T00:00:00.000Z', schema: { type: 'object' } } },
  signalReceived: { type: 'signal.received', data: { signal: 'go', data: { n: 1 } } },
  signalConsumed: { type: 'signal.consumed', data: { wait: 'wait:0', signal: 'go', seq: 3 } },
  signalTimedOut: { type: 'signal.timed_out', data: { wait: 'wait:0', signal: 'go' } },
} as const satisfies Record<string, NewEvent | ((attempt?: number) => NewEvent)>;

const allEvents: NewEvent[] = [
  ev.created,
  ev.started(),
  ev.output,
  ev.sleeping,
  ev.cancelRequested,
  ev.succeeded,
  ev.failed,
  ev.cancelled,
  ev.retried,
  ev.stepStarted,
  ev.stepChunk,
  ev.stepCompleted,
  ev.stepFailed,
  ev.waiting,
  ev.signalReceived,
  ev.signalConsumed,
  ev.signalTimedOut,
];

const queued = (): RunState => applyEvent(null, ev.created, t0);
const running = (): RunState => applyEvents(null, [ev.created, ev.started()], t0);
const inStatus: Record<RunStatus, () => RunState> = {
  queued,
  running,
  succeeded: () => applyEvents(null, [ev.created, ev.started(), ev.succeeded], t0),
  failed: () => applyEvents(null, [ev.created, ev.started(), ev.failed], t0),
  cancelled: () => applyEvents(null, [ev.created, ev.cancelled], t0),
};

/** The projection fields this suite is about (other fields may be added to RunState by other features). */
function core({ status, attempts, retries, cancelRequested, startedAt, finishedAt, output, error }: RunState) {
  return { status, attempts, retries, cancelRequested, startedAt, finishedAt, output, error };
}

function illegal(fn: () => unknown): IllegalTransitionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(IllegalTransitionError);
    return error as IllegalTransitionError;
  }
  throw new Error('expected an IllegalTransitionError, nothing was thrown');
}

describe('applyEvent: legal transitions', () => {
  it('run.created from nothing gives a fresh queued run', () => {
    expect(applyEvent(null, ev.created, t0)).toMatchObject({
      status: 'queued',
      attempts: 0,
      retries: 0,
      cancelRequested: false,
      startedAt: null,
      finishedAt: null,
      output: null,
      error: null,
    });
  });

  it('queued → running on run.started: counts the attempt and records startedAt', () => {
    const state = applyEvent(queued(), ev.started(), t1);
    expect(state).toMatchObject({ status: 'running', attempts: 1, startedAt: t1, finishedAt: null });
  });

  it('queued → cancelled on run.cancelled, with finishedAt', () => {
    const state = applyEvent(queued(), ev.cancelled, t1);
    expect(state).toMatchObject({ status: 'cancelled', finishedAt: t1, startedAt: null, attempts: 0 });
  });

  it('running → succeeded keeps the output', () => {
    const state = applyEvent(running(), ev.succeeded, t2);
    expect(state).toMatchObject({ status: 'succeeded', output: { ok: true }, finishedAt: t2, error: null });
  });

  it('running → failed keeps the error', () => {
    const state = applyEvent(running(), ev.failed, t2);
    expect(state).toMatchObject({ status: 'failed', error: boom, finishedAt: t2 });
  });

  it('running → cancelled', () => {
    const state = applyEvent(running(), ev.cancelled, t2);
    expect(state).toMatchObject({ status: 'cancelled', finishedAt: t2 });
  });

  it('run.cancel_requested while running sets the flag and nothing else', () => {
    const before = running();
    const state = applyEvent(before, ev.cancelRequested, t2);
    expect(state).toEqual({ ...before, cancelRequested: true });
    expect(before.cancelRequested).toBe(false);
  });

  it('run.started again while running counts another attempt but keeps the first startedAt', () => {
    const first = applyEvent(queued(), ev.started(1), t1);
    const second = applyEvent(first, ev.started(2), t2);
    expect(second).toMatchObject({ status: 'running', attempts: 2, startedAt: t1 });
  });

  it('step events and run.output / run.sleeping keep the run running with the same counters', () => {
    const before = running();
    for (const event of [ev.output, ev.sleeping, ev.stepStarted, ev.stepChunk, ev.stepCompleted, ev.stepFailed]) {
      expect(core(applyEvent(before, event, t3))).toEqual(core(before));
    }
  });

  it('failed → queued on run.retried: counts the retry and clears error and finishedAt', () => {
    const failed = applyEvents(null, [ev.created, ev.started(), ev.failed], t1);
    expect(failed).toMatchObject({ status: 'failed', retries: 0, error: boom, finishedAt: t1 });
    const retried = applyEvent(failed, ev.retried, t2);
    expect(retried).toMatchObject({ status: 'queued', retries: 1, error: null, finishedAt: null, attempts: 1 });
    const restarted = applyEvent(retried, ev.started(2), t3);
    expect(restarted).toMatchObject({ status: 'running', attempts: 2, retries: 1, startedAt: t1 });
  });

  it('does not mutate the state it is given', () => {
    const before = running();
    const copy = structuredClone(before);
    applyEvent(before, ev.succeeded, t2);
    expect(before).toEqual(copy);
  });
});

describe('signal waits', () => {
  it('run.waiting records the wait and its timeout; a signal of its name ends it, another name does not', () => {
    const waiting = applyEvent(running(), ev.waiting, t1);
    expect(waiting).toMatchObject({ status: 'running', wakeAt: new Date('2030-01-02T00:00:00.000Z'), waiting: { signal: 'go', schema: { type: 'object' } } });
    const other = applyEvent(waiting, { type: 'signal.received', data: { signal: 'other', data: null } }, t2);
    expect(other).toEqual(waiting);
    expect(applyEvent(waiting, ev.signalReceived, t2)).toMatchObject({ status: 'running', wakeAt: null, waiting: null });
  });

  it('a wait without a timeout leaves no wake-up time; the next execution (run.started) clears the wait', () => {
    const waiting = applyEvent(running(), { type: 'run.waiting', data: { wait: 'wait:0', signal: 'go' } }, t1);
    expect(waiting).toMatchObject({ wakeAt: null, waiting: { signal: 'go' } });
    expect(applyEvent(waiting, ev.started(2), t2)).toMatchObject({ waiting: null, attempts: 2 });
  });

  it('a signal is accepted while queued (kept for the first wait) but not once the run finished', () => {
    expect(core(applyEvent(queued(), ev.signalReceived, t1))).toEqual(core(queued()));
    for (const status of ['succeeded', 'failed', 'cancelled'] as const) {
      illegal(() => applyEvent(inStatus[status](), ev.signalReceived, t1));
    }
  });
});

describe('applyEvent: illegal transitions', () => {
  it('the first event must be run.created', () => {
    for (const event of allEvents.filter((e) => e.type !== 'run.created')) {
      const error = illegal(() => applyEvent(null, event, t0));
      expect(error.status).toBe('new');
      expect(error.eventType).toBe(event.type);
      expect(error.code).toBe('ILLEGAL_TRANSITION');
    }
  });

  it('run.created is only allowed as the first event', () => {
    for (const status of runStatuses) {
      const error = illegal(() => applyEvent(inStatus[status](), ev.created, t1));
      expect(error).toMatchObject({ status, eventType: 'run.created' });
    }
  });

  it('step and output events are illegal while queued', () => {
    for (const event of [ev.output, ev.sleeping, ev.stepStarted, ev.stepChunk, ev.stepCompleted, ev.stepFailed]) {
      expect(illegal(() => applyEvent(queued(), event, t1))).toMatchObject({ status: 'queued', eventType: event.type });
    }
  });

  it('a queued run cannot finish, fail, retry or take a cancel request without running', () => {
    for (const event of [ev.succeeded, ev.failed, ev.retried, ev.cancelRequested]) {
      expect(illegal(() => applyEvent(queued(), event, t1))).toMatchObject({ status: 'queued', eventType: event.type });
    }
  });

  it('run.retried is illegal while running', () => {
    expect(illegal(() => applyEvent(running(), ev.retried, t1))).toMatchObject({
      status: 'running',
      eventType: 'run.retried',
    });
  });

  it('a failed run only accepts run.retried', () => {
    for (const event of allEvents.filter((e) => e.type !== 'run.retried')) {
      expect(illegal(() => applyEvent(inStatus.failed(), event, t2))).toMatchObject({
        status: 'failed',
        eventType: event.type,
      });
    }
  });

  it.each(['succeeded', 'cancelled'] as const)('nothing is allowed after %s', (status) => {
    for (const event of allEvents) {
      expect(illegal(() => applyEvent(inStatus[status](), event, t2))).toMatchObject({ status, eventType: event.type });
    }
  });

  it('the error message names the event and the status', () => {
    const error = illegal(() => applyEvent(queued(), ev.succeeded, t1));
    expect(error.message).toBe('event run.succeeded is not allowed when the run is queued');
  });
});

describe('applyEvents', () => {
  it('folds a whole life in order', () => {
    const state = applyEvents(
      null,
      [ev.created, ev.started(1), ev.stepStarted, ev.stepCompleted, ev.cancelRequested, ev.started(2), ev.succeeded],
      t1,
    );
    expect(core(state)).toEqual({
      status: 'succeeded',
      attempts: 2,
      retries: 0,
      cancelRequested: true,
      startedAt: t1,
      finishedAt: t1,
      output: { ok: true },
      error: null,
    });
  });

  it('an empty batch on an existing state returns it unchanged', () => {
    const before = running();
    expect(applyEvents(before, [], t1)).toEqual(before);
  });

  it('an empty batch on nothing is illegal', () => {
    expect(illegal(() => applyEvents(null, [], t1))).toMatchObject({ status: 'new', eventType: '(empty batch)' });
  });

  it('rejects the whole batch when a later event is illegal, naming that event', () => {
    const error = illegal(() => applyEvents(null, [ev.created, ev.started(), ev.succeeded, ev.output], t1));
    expect(error).toMatchObject({ status: 'succeeded', eventType: 'run.output' });
  });
});

describe('applyEvents: properties', () => {
  const anyEvent = fc.constantFrom(...allEvents);

  it('either throws IllegalTransitionError or yields a known status; after succeeded/cancelled everything throws', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(anyEvent, { maxLength: 30 }), (startWithCreated, tail) => {
        const events = startWithCreated ? [ev.created, ...tail] : tail;
        let result: RunState;
        try {
          result = applyEvents(null, events, t1);
        } catch (error) {
          expect(error).toBeInstanceOf(IllegalTransitionError);
          return;
        }
        expect(runStatuses).toContain(result.status);
        expect(result.attempts).toBeGreaterThanOrEqual(0);
        expect(result.retries).toBeLessThanOrEqual(result.attempts);
        expect(result.finishedAt !== null).toBe(isTerminal(result.status));

        // Walk the sequence step by step: once a terminal-for-good status is reached, every further event throws.
        let state: RunState | null = null;
        for (const event of events) {
          if (state && (state.status === 'succeeded' || state.status === 'cancelled')) {
            const frozen: RunState = state;
            expect(() => applyEvent(frozen, event, t2)).toThrow(IllegalTransitionError);
            return;
          }
          state = applyEvent(state, event, t1);
        }
        if (state && (state.status === 'succeeded' || state.status === 'cancelled')) {
          const frozen: RunState = state;
          for (const event of allEvents) expect(() => applyEvent(frozen, event, t2)).toThrow(IllegalTransitionError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('legal lives built by construction fold to the expected status and counts', () => {
    // A generator of legal lives: created, then rounds of start/steps/(fail+retry), ending in any status.
    const stepNoise = fc.array(fc.constantFrom<NewEvent>(ev.output, ev.stepStarted, ev.stepChunk, ev.stepCompleted), {
      maxLength: 4,
    });
    const round = fc.tuple(stepNoise, fc.boolean());
    const ending = fc.constantFrom<NewEvent[]>([], [ev.succeeded], [ev.failed], [ev.cancelled], [ev.cancelRequested]);
    fc.assert(
      fc.property(fc.array(round, { maxLength: 5 }), stepNoise, ending, (rounds, lastNoise, end) => {
        const events: NewEvent[] = [ev.created];
        let attempts = 0;
        let retries = 0;
        for (const [noise, restartInPlace] of rounds) {
          events.push(ev.started(), ...noise);
          attempts += 1;
          if (restartInPlace) {
            events.push(ev.started());
            attempts += 1;
          }
          events.push(ev.failed, ev.retried);
          retries += 1;
        }
        events.push(ev.started(), ...lastNoise, ...end);
        attempts += 1;
        const state = applyEvents(null, events, t1);
        const expected: RunStatus =
          end[0]?.type === 'run.succeeded'
            ? 'succeeded'
            : end[0]?.type === 'run.failed'
              ? 'failed'
              : end[0]?.type === 'run.cancelled'
                ? 'cancelled'
                : 'running';
        expect(state.status).toBe(expected);
        expect(state.attempts).toBe(attempts);
        expect(state.retries).toBe(retries);
        expect(state.cancelRequested).toBe(end[0]?.type === 'run.cancel_requested');
      }),
      { numRuns: 300 },
    );
  });
});

describe('event classes, checked against the state machine', () => {
  /** Every legal fold of `event`: from nothing and from a run in each status. */
  function legalFolds(event: NewEvent): { before: RunState | null; after: RunState }[] {
    const folds: { before: RunState | null; after: RunState }[] = [];
    for (const before of [null, ...runStatuses.map((status) => inStatus[status]())]) {
      try {
        folds.push({ before, after: applyEvent(before, event, t1) });
      } catch (error) {
        if (!(error instanceof IllegalTransitionError)) throw error;
      }
    }
    return folds;
  }

  it('a lifecycle event is one that changes the status or the cancel request from some state; no other event does', () => {
    expect(new Set(allEvents.map((event) => event.type))).toEqual(new Set(eventTypes));
    for (const event of allEvents) {
      const changesLifecycle = legalFolds(event).some(
        ({ before, after }) => before === null || before.status !== after.status || before.cancelRequested !== after.cancelRequested,
      );
      expect({ type: event.type, lifecycle: lifecycleEventTypes.has(event.type) }).toEqual({ type: event.type, lifecycle: changesLifecycle });
    }
  });

  it('terminalStatusOf names the status the state machine ends the run in, for exactly the events that end one', () => {
    for (const event of allEvents) {
      const ends = legalFolds(event).filter(({ after }) => isTerminal(after.status));
      const endStatuses = new Set(ends.map(({ after }) => after.status));
      const expected = terminalStatusOf(event.type);
      expect({ type: event.type, statuses: [...endStatuses] }).toEqual({ type: event.type, statuses: expected ? [expected] : [] });
    }
    expect(new Set(allEvents.map((event) => terminalStatusOf(event.type)).filter(Boolean))).toEqual(terminalStatuses);
  });
});

describe('projectEvent: the state machine without its guard', () => {
  it('gives what applyEvent gives wherever applyEvent allows the event', () => {
    let legal = 0;
    for (const status of runStatuses) {
      for (const event of allEvents) {
        let expected: RunState;
        try {
          expected = applyEvent(inStatus[status](), event, t2);
        } catch (error) {
          if (!(error instanceof IllegalTransitionError)) throw error;
          continue;
        }
        legal++;
        expect({ status, type: event.type, state: projectEvent(inStatus[status](), event, t2) }).toEqual({
          status,
          type: event.type,
          state: expected,
        });
      }
    }
    expect(legal).toBeGreaterThan(10);
  });

  it('applies an event applyEvent would refuse, as a reader of an already checked log needs', () => {
    const queued = inStatus.queued();
    expect(projectEvent(queued, ev.cancelRequested, t2)).toEqual({ ...queued, cancelRequested: true });
  });
});
