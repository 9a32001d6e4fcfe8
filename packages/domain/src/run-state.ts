import { IllegalTransitionError } from './errors.js';
import type { ErrorInfo, EventType, NewEvent } from './events.js';
import { assertNever } from './exhaustive.js';

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
  /** When a suspended execution (durable sleep, step retry backoff, a signal wait's timeout) should be resumed. */
  wakeAt: Date | null;
  /** The signal a suspended execution waits for, with the JSON Schema its data must match; null when none. */
  waiting: SignalWait | null;
}

export interface SignalWait {
  signal: string;
  schema?: unknown;
}

const inRunning: readonly RunStatus[] = ['running'];

/**
 * The statuses in which an event of each type may be appended (a new run takes only `run.created`). A record over
 * every event type, so a new type must be placed in the state machine here.
 */
const allowedIn: Record<EventType, readonly RunStatus[]> = {
  'run.created': [],
  'run.started': ['queued', 'running'],
  'run.output': inRunning,
  'run.sleeping': inRunning,
  'run.waiting': inRunning,
  // Kept from the start: a signal sent before the run waits is consumed by its next wait of that name.
  'signal.received': ['queued', 'running'],
  'signal.consumed': inRunning,
  'signal.timed_out': inRunning,
  'run.cancel_requested': inRunning,
  'run.succeeded': inRunning,
  'run.failed': inRunning,
  'run.cancelled': ['queued', 'running'],
  'run.retried': ['failed'],
  'step.started': inRunning,
  'step.chunk': inRunning,
  'step.completed': inRunning,
  'step.failed': inRunning,
};

/**
 * What an event of each type is to the run. `lifecycle` events change its status or its cancel request (what the
 * cross-run feed carries). The others are recorded inside an execution, accepted only while running, and change
 * neither: `inert` ones leave a running run's projection as it is, `execution` ones may set its wake-up time
 * (`step.failed` only when it schedules a retry) or what it waits for (`signal.received`, which alone is also
 * accepted while queued, ends the wait it matches). A record over every event type, so a new type must be
 * classified here.
 */
const eventRole: Record<EventType, 'lifecycle' | 'execution' | 'inert'> = {
  'run.created': 'lifecycle',
  'run.started': 'lifecycle',
  'run.output': 'inert',
  'run.sleeping': 'execution',
  'run.waiting': 'execution',
  'signal.received': 'execution',
  'signal.consumed': 'inert',
  'signal.timed_out': 'inert',
  'run.cancel_requested': 'lifecycle',
  'run.succeeded': 'lifecycle',
  'run.failed': 'lifecycle',
  'run.cancelled': 'lifecycle',
  'run.retried': 'lifecycle',
  'step.started': 'inert',
  'step.chunk': 'inert',
  'step.completed': 'inert',
  'step.failed': 'execution',
};

export const lifecycleEventTypes: ReadonlySet<EventType> = new Set(
  (Object.keys(eventRole) as EventType[]).filter((type) => eventRole[type] === 'lifecycle'),
);

/**
 * Events that leave a running run's projection as it is: the bulk of a log (steps, chunks, outputs). Appending
 * only these to a running run needs no state-machine decision beyond "the run is running", which lets the event
 * log write them in a single statement.
 */
export function leavesRunningStateAsIs(event: NewEvent): boolean {
  return eventRole[event.type] === 'inert' || (event.type === 'step.failed' && event.data.retryAt === undefined);
}

export function initialRunState(): RunState {
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
    waiting: null,
  };
}

/**
 * What an event does to the projection, whatever the status: the state machine's effects without its guard.
 * Readers of a log that was checked when written (the dashboard, the runs list) fold with this; writers use
 * `applyEvent`. Every event type is named, so a new one is a compile error here.
 */
export function projectEvent(state: RunState, event: NewEvent, at: Date): RunState {
  const finish = (type: TerminalEventType, patch: Partial<RunState> = {}): RunState => ({
    ...state,
    ...patch,
    status: terminalEventStatus[type],
    finishedAt: at,
    wakeAt: null,
    waiting: null,
  });
  switch (event.type) {
    case 'run.created':
      return initialRunState();
    case 'run.started':
      return { ...state, status: 'running', attempts: state.attempts + 1, startedAt: state.startedAt ?? at, wakeAt: null, waiting: null };
    case 'run.sleeping':
      return { ...state, wakeAt: new Date(event.data.until) };
    case 'run.waiting': {
      const { signal, until, schema } = event.data;
      return { ...state, wakeAt: until ? new Date(until) : null, waiting: schema === undefined ? { signal } : { signal, schema } };
    }
    case 'signal.received':
      return state.waiting?.signal === event.data.signal ? { ...state, wakeAt: null, waiting: null } : state;
    case 'step.failed':
      return event.data.retryAt === undefined ? state : { ...state, wakeAt: new Date(event.data.retryAt) };
    case 'run.cancel_requested':
      return { ...state, cancelRequested: true };
    case 'run.succeeded':
      return finish(event.type, { output: event.data.output });
    case 'run.failed':
      return finish(event.type, { error: event.data.error });
    case 'run.cancelled':
      return finish(event.type);
    case 'run.retried':
      return { ...state, status: 'queued', retries: state.retries + 1, finishedAt: null, error: null };
    case 'run.output':
    case 'step.started':
    case 'step.chunk':
    case 'step.completed':
    case 'signal.consumed':
    case 'signal.timed_out':
      return state;
    default:
      return assertNever(event);
  }
}

/**
 * The run state machine: folds one event into the projection, or throws IllegalTransitionError.
 * Pure: the caller supplies the time the event is recorded at.
 */
export function applyEvent(state: RunState | null, event: NewEvent, at: Date): RunState {
  if (state === null) {
    if (event.type !== 'run.created') throw new IllegalTransitionError('new', event.type);
    return initialRunState();
  }
  if (!allowedIn[event.type].includes(state.status)) throw new IllegalTransitionError(state.status, event.type);
  return projectEvent(state, event, at);
}

/** Folds a batch in order; the whole batch is rejected if any event is illegal. */
export function applyEvents(state: RunState | null, events: readonly NewEvent[], at: Date): RunState {
  let next = state;
  for (const event of events) next = applyEvent(next, event, at);
  if (next === null) throw new IllegalTransitionError('new', '(empty batch)');
  return next;
}
