import { IllegalTransitionError } from './errors.js';
import { eventTypes, type ErrorInfo, type EventType, type NewEvent } from './events.js';

export const runStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof runStatuses)[number];

/** The events that end a run, each with the status it ends in: the state machine's finishing transitions. */
export const terminalEventStatus = {
  'run.succeeded': 'succeeded',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
} as const satisfies Partial<Record<EventType, RunStatus>>;
export type TerminalEventType = keyof typeof terminalEventStatus;

export const terminalStatuses: ReadonlySet<RunStatus> = new Set(Object.values(terminalEventStatus));

/** The status a run ends in when `type` is its last event; undefined when `type` does not end a run. */
export function terminalStatusOf(type: EventType): RunStatus | undefined {
  return (terminalEventStatus as Partial<Record<EventType, RunStatus>>)[type];
}

export function isTerminal(status: RunStatus): boolean {
  return terminalStatuses.has(status);
}

/** The part of a run that is derived from its events: the projection stored on the `runs` row. */
export interface RunState {
  status: RunStatus;
  /** Execution attempts started (crash recoveries and retries included). */
  attempts: number;
  /** Times the run was sent back to the queue after failing. */
  retries: number;
  cancelRequested: boolean;
  startedAt: Date | null;
  finishedAt: Date | null;
  output: unknown;
  error: ErrorInfo | null;
  /** When a suspended execution (durable sleep, step retry backoff) should be resumed. */
  wakeAt: Date | null;
}

const stepEvents: ReadonlySet<string> = new Set(['step.started', 'step.chunk', 'step.completed', 'run.output']);

/**
 * Events recorded inside an execution (steps, output, durable waits): the state machine accepts them only while
 * running, and none changes the run's status or its cancel request.
 */
const executionEvents: ReadonlySet<string> = new Set([...stepEvents, 'step.failed', 'run.sleeping']);

/**
 * Every other event type: the run's lifecycle (created, started, cancel requested, finished, retried), i.e. the
 * events that change its status or its cancel request. What the cross-run feed carries.
 */
export const lifecycleEventTypes: ReadonlySet<EventType> = new Set(eventTypes.filter((type) => !executionEvents.has(type)));

/**
 * Events that leave a running run's projection as it is: the bulk of a log (steps, chunks, outputs). Appending
 * only these to a running run needs no state-machine decision beyond "the run is running", which lets the event
 * log write them in a single statement.
 */
export function leavesRunningStateAsIs(event: NewEvent): boolean {
  return stepEvents.has(event.type) || (event.type === 'step.failed' && event.data.retryAt === undefined);
}

/**
 * The run state machine: folds one event into the projection, or throws IllegalTransitionError.
 * Pure: the caller supplies the time the event is recorded at.
 */
export function applyEvent(state: RunState | null, event: NewEvent, at: Date): RunState {
  if (state === null) {
    if (event.type !== 'run.created') throw new IllegalTransitionError('new', event.type);
    return {
      status: 'queued',
      attempts: 0,
      retries: 0,
      cancelRequested: false,
      startedAt: null,
      finishedAt: null,
      output: null,
      error: null,
      wakeAt: null,
    };
  }
  const illegal = () => new IllegalTransitionError(state.status, event.type);
  const finish = (type: TerminalEventType, patch: Partial<RunState> = {}): RunState => ({
    ...state,
    ...patch,
    status: terminalEventStatus[type],
    finishedAt: at,
    wakeAt: null,
  });

  switch (state.status) {
    case 'queued':
      switch (event.type) {
        case 'run.started':
          return { ...state, status: 'running', attempts: state.attempts + 1, startedAt: state.startedAt ?? at };
        case 'run.cancelled':
          return finish(event.type);
        default:
          throw illegal();
      }
    case 'running':
      switch (event.type) {
        case 'run.sleeping':
          return { ...state, wakeAt: new Date(event.data.until) };
        case 'step.failed':
          return event.data.retryAt === undefined ? state : { ...state, wakeAt: new Date(event.data.retryAt) };
        case 'run.started':
          return { ...state, attempts: state.attempts + 1, wakeAt: null };
        case 'run.cancel_requested':
          return { ...state, cancelRequested: true };
        case 'run.succeeded':
          return finish(event.type, { output: event.data.output });
        case 'run.failed':
          return finish(event.type, { error: event.data.error });
        case 'run.cancelled':
          return finish(event.type);
        default:
          if (stepEvents.has(event.type)) return state;
          throw illegal();
      }
    case 'failed':
      if (event.type !== 'run.retried') throw illegal();
      return { ...state, status: 'queued', retries: state.retries + 1, finishedAt: null, error: null };
    case 'succeeded':
    case 'cancelled':
      throw illegal();
  }
}

/** Folds a batch in order; the whole batch is rejected if any event is illegal. */
export function applyEvents(state: RunState | null, events: readonly NewEvent[], at: Date): RunState {
  let next = state;
  for (const event of events) next = applyEvent(next, event, at);
  if (next === null) throw new IllegalTransitionError('new', '(empty batch)');
  return next;
}
