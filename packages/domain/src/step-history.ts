import type { ErrorInfo, RunEvent } from './events.js';
import { assertNever } from './exhaustive.js';

export const stepStatuses = ['running', 'completed', 'failed', 'retrying'] as const;
export type StepStatus = (typeof stepStatuses)[number];

/** One step as its events leave it: everything the engine's replay, the API and the dashboard read of it. */
export interface StepState {
  name: string;
  status: StepStatus;
  /** The latest attempt started. */
  attempt: number;
  /** Attempts started since the run was last sent back by `run.retried` (the current retry budget's usage). */
  attemptsInBudget: number;
  startedAt: Date;
  /** When the latest attempt started. */
  attemptStartedAt: Date;
  /** When the latest attempt ended, if it has. */
  finishedAt: Date | null;
  /** Time spent in finished attempts, summed. */
  durationMs: number;
  output: unknown;
  /** The latest attempt's error, if it failed. */
  error: ErrorInfo | null;
  /** Set while the step waits for its next attempt. */
  retryAt: Date | null;
  /** Streamed chunks recorded (all attempts). */
  chunks: number;
}

/** A signal wait as the log records it: when it times out, and how it ended once it has. */
export interface SignalWaitState {
  signal: string;
  until: Date | null;
  outcome: { kind: 'consumed'; seq: number } | { kind: 'timed_out' } | null;
}

export interface ReceivedSignal {
  seq: number;
  signal: string;
  data: unknown;
}

/** A run's execution history: its steps in the order they first started, its durable timers and signal waits. */
export interface StepHistory {
  steps: Map<string, StepState>;
  /** Durable timers started, by name, with their wake-up time. */
  sleeps: Map<string, Date>;
  /** Signal waits, by wait name. */
  waits: Map<string, SignalWaitState>;
  /** Signals received, by seq (arrival order). */
  signals: Map<number, ReceivedSignal>;
  /** Seqs of the received signals a wait has consumed. */
  consumed: Set<number>;
}

export function emptyStepHistory(): StepHistory {
  return { steps: new Map(), sleeps: new Map(), waits: new Map(), signals: new Map(), consumed: new Set() };
}

/** The earliest received signal named `signal` no wait has consumed yet, if any. */
export function nextUnconsumedSignal(history: StepHistory, signal: string): ReceivedSignal | undefined {
  let next: ReceivedSignal | undefined;
  for (const received of history.signals.values()) {
    if (received.signal !== signal || history.consumed.has(received.seq)) continue;
    if (!next || received.seq < next.seq) next = received;
  }
  return next;
}

/**
 * Folds one event into `history` (updating it in place: a run's log may hold many thousands of chunks). Events
 * may be any subset of a run's log in seq order; events of an attempt older than the step's latest are stale
 * and change nothing but the chunk count. Every event type is named, so a new one is a compile error here.
 */
export function applyStepEvent(history: StepHistory, event: RunEvent): StepHistory {
  switch (event.type) {
    case 'step.started': {
      const { step: name, attempt } = event.data;
      const step = history.steps.get(name);
      if (!step) {
        history.steps.set(name, {
          name,
          status: 'running',
          attempt,
          attemptsInBudget: 1,
          startedAt: event.createdAt,
          attemptStartedAt: event.createdAt,
          finishedAt: null,
          durationMs: 0,
          output: null,
          error: null,
          retryAt: null,
          chunks: 0,
        });
      } else if (attempt >= step.attempt) {
        Object.assign(step, {
          status: 'running',
          attempt,
          attemptsInBudget: step.attemptsInBudget + 1,
          attemptStartedAt: event.createdAt,
          finishedAt: null,
          retryAt: null,
        });
      }
      break;
    }
    case 'step.chunk': {
      const step = history.steps.get(event.data.step);
      if (step) step.chunks++;
      break;
    }
    case 'step.completed': {
      const step = history.steps.get(event.data.step);
      if (!step || event.data.attempt < step.attempt) break;
      Object.assign(step, {
        status: 'completed',
        finishedAt: event.createdAt,
        durationMs: step.durationMs + event.data.durationMs,
        output: event.data.output,
        error: null,
        retryAt: null,
      });
      break;
    }
    case 'step.failed': {
      const step = history.steps.get(event.data.step);
      if (!step || event.data.attempt < step.attempt) break;
      const { retryAt } = event.data;
      Object.assign(step, {
        status: retryAt ? 'retrying' : 'failed',
        finishedAt: event.createdAt,
        durationMs: step.durationMs + event.data.durationMs,
        error: event.data.error,
        retryAt: retryAt ? new Date(retryAt) : null,
      });
      break;
    }
    case 'run.sleeping':
      history.sleeps.set(event.data.name, new Date(event.data.until));
      break;
    case 'run.waiting': {
      const { wait, signal, until } = event.data;
      history.waits.set(wait, { signal, until: until ? new Date(until) : null, outcome: null });
      break;
    }
    case 'signal.received':
      history.signals.set(event.seq, { seq: event.seq, signal: event.data.signal, data: event.data.data });
      break;
    case 'signal.consumed': {
      const { wait, signal, seq } = event.data;
      history.consumed.add(seq);
      const state = history.waits.get(wait);
      if (state) state.outcome = { kind: 'consumed', seq };
      // A wait that found its signal already received consumes it without recording run.waiting first.
      else history.waits.set(wait, { signal, until: null, outcome: { kind: 'consumed', seq } });
      break;
    }
    case 'signal.timed_out': {
      const state = history.waits.get(event.data.wait);
      if (state) state.outcome = { kind: 'timed_out' };
      break;
    }
    case 'run.retried':
      // A new retry budget; completed steps keep their output.
      for (const step of history.steps.values()) Object.assign(step, { attemptsInBudget: 0, retryAt: null });
      break;
    case 'run.created':
    case 'run.started':
    case 'run.output':
    case 'run.cancel_requested':
    case 'run.succeeded':
    case 'run.failed':
    case 'run.cancelled':
      break;
    default:
      return assertNever(event);
  }
  return history;
}

export function foldStepHistory(events: Iterable<RunEvent>, history = emptyStepHistory()): StepHistory {
  for (const event of events) applyStepEvent(history, event);
  return history;
}

/** What the API shows of one step. */
export interface StepSummary {
  name: string;
  status: StepStatus;
  /** Attempts started. */
  attempts: number;
  startedAt: Date;
  /** When the last attempt ended, if it has. */
  finishedAt: Date | null;
  /** Time spent in attempts, summed. */
  durationMs: number;
  output: unknown;
  /** The last attempt's error, if it failed. */
  error: ErrorInfo | null;
  /** Streamed chunks recorded (all attempts). */
  chunks: number;
}

/** A run's steps (from its events in seq order) as summaries, in the order the steps first started. */
export function stepHistory(events: Iterable<RunEvent>): StepSummary[] {
  return [...foldStepHistory(events).steps.values()].map((step) => ({
    name: step.name,
    status: step.status,
    attempts: step.attempt,
    startedAt: step.startedAt,
    finishedAt: step.finishedAt,
    durationMs: step.durationMs,
    output: step.output,
    error: step.error,
    chunks: step.chunks,
  }));
}
