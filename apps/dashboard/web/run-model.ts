/**
 * A run page's state, folded from the run's events in seq order. Pure (no DOM), so it is unit tested in node.
 *
 * The run's status and each step's progress are folded by domain's pure functions (the state machine's effects,
 * without the guard the server applied when the events were written, and the step history); this module adds what only the page shows: the timeline, emitted outputs, and
 * each step's streamed chunks, kept for its latest attempt only (a retried or recovered attempt restarts its
 * chunks at index 0, so its text replaces the failed attempt's).
 *
 * Events are taken exactly once and in order: an event at or below the last seq is a duplicate (a reconnect
 * replaying what was already rendered) and is dropped; one past the next seq is a gap, and the caller reconnects
 * from `lastSeq + 1` instead of rendering it.
 */
import {
  applyStepEvent,
  emptyStepHistory,
  initialRunState,
  projectEvent,
  type RunEvent as RecordedEvent,
  type RunState,
  type SignalWait,
  type StepHistory,
  type StepState,
  type StepStatus,
} from '@runstream/domain';
import type { ErrorInfo, Run, RunEvent, RunStatus } from './types.js';

export type { StepStatus };

export interface StepView {
  name: string;
  status: StepStatus;
  /** The latest attempt started. */
  attempt: number;
  startedAt: string;
  /** When the latest attempt started (the live duration counts from here). */
  attemptStartedAt: string;
  finishedAt: string | null;
  /** Time spent in finished attempts, summed. */
  durationMs: number;
  output: unknown;
  error: ErrorInfo | null;
  retryAt: string | null;
  /** Chunks of the latest attempt, by index. */
  chunks: unknown[];
}

export interface RunModel {
  events: RunEvent[];
  lastSeq: number;
  /** The run's projection, folded by domain (null before the first event). */
  state: RunState | null;
  /** The steps and timers, folded by domain's step history. */
  history: StepHistory;
  status: RunStatus | null;
  cancelRequested: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: ErrorInfo | null;
  /** Set while a durable sleep or a step retry backoff is pending. */
  wakeAt: string | null;
  /** The signal the run waits for (with the JSON Schema its data must match), while it waits. */
  waiting: SignalWait | null;
  steps: Map<string, StepView>;
  /** `run.output` data, in order. */
  emitted: unknown[];
}

export type Verdict = 'applied' | 'duplicate' | 'gap';

export function emptyRunModel(): RunModel {
  return {
    events: [],
    lastSeq: 0,
    state: null,
    history: emptyStepHistory(),
    status: null,
    cancelRequested: false,
    startedAt: null,
    finishedAt: null,
    output: null,
    error: null,
    wakeAt: null,
    waiting: null,
    steps: new Map(),
    emitted: [],
  };
}

type Data = Record<string, unknown>;

const asErrorInfo = (value: unknown): ErrorInfo | null => {
  const error = value as Partial<ErrorInfo> | null | undefined;
  return error && typeof error.message === 'string' ? { name: String(error.name ?? 'Error'), message: error.message, ...(error.code ? { code: error.code } : {}) } : null;
};

const iso = (date: Date | null): string | null => date && date.toISOString();

/** An event as the API sent it (dates as ISO strings), as domain folds it. */
function recorded(event: RunEvent): RecordedEvent {
  return { ...event, createdAt: new Date(event.createdAt) } as RecordedEvent;
}

function stepView(step: StepState, chunks: unknown[]): StepView {
  return {
    name: step.name,
    status: step.status,
    attempt: step.attempt,
    startedAt: step.startedAt.toISOString(),
    attemptStartedAt: step.attemptStartedAt.toISOString(),
    finishedAt: iso(step.finishedAt),
    durationMs: step.durationMs,
    output: step.output,
    error: step.error && asErrorInfo(step.error),
    retryAt: iso(step.retryAt),
    chunks,
  };
}

/** Folds one event into `model` (mutating it) unless it is a duplicate or past a gap. */
export function applyRunEvent(model: RunModel, event: RunEvent): Verdict {
  if (event.seq <= model.lastSeq) return 'duplicate';
  if (event.seq !== model.lastSeq + 1) return 'gap';
  model.lastSeq = event.seq;
  model.events.push(event);
  const folded = recorded(event);
  const state = (model.state = projectEvent(model.state ?? initialRunState(), folded, folded.createdAt));
  applyStepEvent(model.history, folded);
  Object.assign(model, {
    status: state.status,
    cancelRequested: state.cancelRequested,
    startedAt: iso(state.startedAt),
    finishedAt: iso(state.finishedAt),
    output: state.output,
    error: state.error && asErrorInfo(state.error),
    wakeAt: iso(state.wakeAt),
    waiting: state.waiting,
  });
  if (folded.type === 'run.output') model.emitted.push(folded.data.data);
  if (folded.type.startsWith('step.')) {
    const name = (folded.data as { step: string }).step;
    const step = model.history.steps.get(name);
    if (step) {
      const previous = model.steps.get(name);
      const chunks = previous && previous.attempt === step.attempt ? previous.chunks : [];
      if (folded.type === 'step.chunk' && folded.data.attempt === step.attempt && folded.data.index >= 0) {
        chunks[folded.data.index] = folded.data.data;
      }
      model.steps.set(name, stepView(step, chunks));
    }
  }
  return 'applied';
}

/** A chunk's text: strings as they are, anything else as JSON. */
export function chunkText(chunk: unknown): string {
  if (chunk === undefined) return '';
  return typeof chunk === 'string' ? chunk : JSON.stringify(chunk);
}

/** The streamed text of a step's latest attempt. */
export function stepText(step: StepView): string {
  let text = '';
  for (const chunk of step.chunks) text += chunkText(chunk);
  return text;
}

/** One line describing an event, for the timeline. */
export function describeEvent(event: RunEvent): string {
  const data = (event.data ?? {}) as Data;
  const json = (value: unknown, max = 120) => {
    const text = JSON.stringify(value) ?? 'undefined';
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  };
  const error = asErrorInfo(data.error);
  switch (event.type) {
    case 'run.created':
      return `${String(data.workflow)}${data.workflowVersion ? ` @ ${String(data.workflowVersion).slice(0, 8)}` : ''}`;
    case 'run.started':
      return `attempt ${String(data.attempt)} on ${String(data.workerId)}`;
    case 'run.output':
      return `${data.step ? `${String(data.step)}: ` : ''}${json(data.data)}`;
    case 'run.sleeping':
      return `${String(data.name)} until ${formatTime(String(data.until))}`;
    case 'run.waiting':
      return `for signal ${String(data.signal)}${data.until ? ` until ${formatTime(String(data.until))}` : ''}`;
    case 'signal.received':
      return `${String(data.signal)} ${json(data.data, 80)}`;
    case 'signal.consumed':
      return `${String(data.signal)} (#${String(data.seq)}) taken by ${String(data.wait)}`;
    case 'signal.timed_out':
      return `${String(data.signal)} · ${String(data.wait)} timed out`;
    case 'run.cancel_requested':
    case 'run.cancelled':
    case 'run.retried':
      return typeof data.reason === 'string' ? data.reason : '';
    case 'run.succeeded':
      return json(data.output);
    case 'run.failed':
      return `${data.step ? `${String(data.step)}: ` : ''}${error ? `${error.name}: ${error.message}` : ''}`;
    case 'step.started':
      return `${String(data.step)} · attempt ${String(data.attempt)}`;
    case 'step.chunk':
      return `${String(data.step)} · #${String(data.index)} ${json(data.data, 60)}`;
    case 'step.completed':
      return `${String(data.step)} · ${formatDuration(Number(data.durationMs))}`;
    case 'step.failed':
      return `${String(data.step)} · attempt ${String(data.attempt)} · ${error ? `${error.name}: ${error.message}` : ''}${
        data.retryAt ? ` · retry at ${formatTime(String(data.retryAt))}` : ''
      }`;
    default: {
      // Every known type is handled above (a new one fails to compile here); this one is newer than the page.
      const newer: never = event;
      return json((newer as { data: unknown }).data);
    }
  }
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1_000);
  if (minutes < 60) return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleTimeString(undefined, { hour12: false }) + `.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * A runs-list row updated by a lifecycle event from the cross-run feed (folded by domain), or `null` when the
 * event is not newer than the row (the row was read after it).
 */
export function patchRun(run: Run, event: RunEvent): Run | null {
  if (event.runId !== run.id || event.seq <= run.lastSeq) return null;
  const folded = recorded(event);
  const date = (text: string | null) => (text === null ? null : new Date(text));
  const state = projectEvent(
    { ...run, startedAt: date(run.startedAt), finishedAt: date(run.finishedAt), wakeAt: null },
    folded,
    folded.createdAt,
  );
  return {
    ...run,
    lastSeq: event.seq,
    updatedAt: event.createdAt,
    status: state.status,
    attempts: state.attempts,
    retries: state.retries,
    cancelRequested: state.cancelRequested,
    startedAt: iso(state.startedAt),
    finishedAt: iso(state.finishedAt),
    output: state.output,
    error: state.error && asErrorInfo(state.error),
    waiting: state.waiting,
  };
}

export interface RunFilter {
  status?: RunStatus | undefined;
  workflow?: string | undefined;
}

export function matchesFilter(run: Run, filter: RunFilter): boolean {
  return (!filter.status || run.status === filter.status) && (!filter.workflow || run.workflow === filter.workflow);
}

/** Newest first, as the API pages them: by creation time, then id. */
export function compareRuns(a: Run, b: Run): number {
  const byTime = new Date(b.createdAt).getTime() - new Date(a.createdAt).getTime();
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
