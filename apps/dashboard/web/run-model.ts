/**
 * A run page's state, folded from the run's events in seq order. Pure (no DOM), so it is unit tested in node.
 *
 * Events are taken exactly once and in order: an event at or below the last seq is a duplicate (a reconnect
 * replaying what was already rendered) and is dropped; one past the next seq is a gap, and the caller reconnects
 * from `lastSeq + 1` instead of rendering it. Chunks are kept for each step's latest attempt only: a retried or
 * recovered attempt restarts its chunks at index 0, so its text replaces the failed attempt's.
 */
import type { ErrorInfo, Run, RunEvent, RunStatus } from './types.js';

export type StepStatus = 'running' | 'completed' | 'failed' | 'retrying';

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
  status: RunStatus | null;
  cancelRequested: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: ErrorInfo | null;
  /** Set while a durable sleep or a step retry backoff is pending. */
  wakeAt: string | null;
  steps: Map<string, StepView>;
  /** `run.output` data, in order. */
  emitted: unknown[];
}

export type Verdict = 'applied' | 'duplicate' | 'gap';

export function emptyRunModel(): RunModel {
  return {
    events: [],
    lastSeq: 0,
    status: null,
    cancelRequested: false,
    startedAt: null,
    finishedAt: null,
    output: null,
    error: null,
    wakeAt: null,
    steps: new Map(),
    emitted: [],
  };
}

type Data = Record<string, unknown>;

const asErrorInfo = (value: unknown): ErrorInfo | null => {
  const error = value as Partial<ErrorInfo> | null | undefined;
  return error && typeof error.message === 'string' ? { name: String(error.name ?? 'Error'), message: error.message, ...(error.code ? { code: error.code } : {}) } : null;
};

/** Folds one event into `model` (mutating it) unless it is a duplicate or past a gap. */
export function applyRunEvent(model: RunModel, event: RunEvent): Verdict {
  if (event.seq <= model.lastSeq) return 'duplicate';
  if (event.seq !== model.lastSeq + 1) return 'gap';
  model.lastSeq = event.seq;
  model.events.push(event);
  const data = (event.data ?? {}) as Data;
  const at = event.createdAt;

  switch (event.type) {
    case 'run.created':
      model.status = 'queued';
      break;
    case 'run.started':
      model.status = 'running';
      model.startedAt ??= at;
      model.wakeAt = null;
      break;
    case 'run.sleeping':
      model.wakeAt = typeof data.until === 'string' ? data.until : null;
      break;
    case 'run.output':
      model.emitted.push(data.data);
      break;
    case 'run.cancel_requested':
      model.cancelRequested = true;
      break;
    case 'run.succeeded':
      Object.assign(model, { status: 'succeeded', finishedAt: at, output: data.output, wakeAt: null });
      break;
    case 'run.failed':
      Object.assign(model, { status: 'failed', finishedAt: at, error: asErrorInfo(data.error), wakeAt: null });
      break;
    case 'run.cancelled':
      Object.assign(model, { status: 'cancelled', finishedAt: at, wakeAt: null });
      break;
    case 'run.retried':
      Object.assign(model, { status: 'queued', finishedAt: null, error: null });
      break;
    case 'step.started': {
      const name = String(data.step);
      const attempt = Number(data.attempt);
      const step = model.steps.get(name);
      if (!step) {
        model.steps.set(name, {
          name,
          status: 'running',
          attempt,
          startedAt: at,
          attemptStartedAt: at,
          finishedAt: null,
          durationMs: 0,
          output: null,
          error: null,
          retryAt: null,
          chunks: [],
        });
      } else if (attempt >= step.attempt) {
        if (attempt > step.attempt) step.chunks = [];
        Object.assign(step, { status: 'running', attempt, attemptStartedAt: at, finishedAt: null, retryAt: null });
      }
      break;
    }
    case 'step.chunk': {
      const step = model.steps.get(String(data.step));
      const attempt = Number(data.attempt);
      const index = Number(data.index);
      if (!step || attempt < step.attempt || !Number.isInteger(index) || index < 0) break;
      if (attempt > step.attempt) Object.assign(step, { attempt, chunks: [] });
      step.chunks[index] = data.data;
      break;
    }
    case 'step.completed': {
      const step = model.steps.get(String(data.step));
      if (!step || Number(data.attempt) < step.attempt) break;
      Object.assign(step, {
        status: 'completed',
        finishedAt: at,
        durationMs: step.durationMs + Number(data.durationMs ?? 0),
        output: data.output,
        error: null,
        retryAt: null,
      });
      break;
    }
    case 'step.failed': {
      const step = model.steps.get(String(data.step));
      if (!step || Number(data.attempt) < step.attempt) break;
      const retryAt = typeof data.retryAt === 'string' ? data.retryAt : null;
      Object.assign(step, {
        status: retryAt ? 'retrying' : 'failed',
        finishedAt: at,
        durationMs: step.durationMs + Number(data.durationMs ?? 0),
        error: asErrorInfo(data.error),
        retryAt,
      });
      if (retryAt) model.wakeAt = retryAt;
      break;
    }
    default:
      break;
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
    default:
      return json(event.data);
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
 * A runs-list row updated by a lifecycle event from the cross-run feed, or `null` when the event is not newer
 * than the row (the row was read after it). Only the feed's run.* events change what a row shows.
 */
export function patchRun(run: Run, event: RunEvent): Run | null {
  if (event.runId !== run.id || event.seq <= run.lastSeq) return null;
  const data = (event.data ?? {}) as Data;
  const at = event.createdAt;
  const next: Run = { ...run, lastSeq: event.seq, updatedAt: at };
  switch (event.type) {
    case 'run.started':
      return { ...next, status: 'running', attempts: run.attempts + 1, startedAt: run.startedAt ?? at };
    case 'run.cancel_requested':
      return { ...next, cancelRequested: true };
    case 'run.succeeded':
      return { ...next, status: 'succeeded', finishedAt: at, output: data.output };
    case 'run.failed':
      return { ...next, status: 'failed', finishedAt: at, error: asErrorInfo(data.error) };
    case 'run.cancelled':
      return { ...next, status: 'cancelled', finishedAt: at };
    case 'run.retried':
      return { ...next, status: 'queued', finishedAt: null, error: null, retries: run.retries + 1 };
    default:
      return next;
  }
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
