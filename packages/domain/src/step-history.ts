import type { ErrorInfo, RunEvent } from './events.js';

export type StepStatus = 'running' | 'completed' | 'failed' | 'retrying';

/** What one step of a run did, folded from its events: the run's execution history. */
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

/** Folds a run's events (in seq order) into per-step summaries, in the order the steps first started. */
export function stepHistory(events: Iterable<RunEvent>): StepSummary[] {
  const steps = new Map<string, StepSummary>();
  for (const event of events) {
    switch (event.type) {
      case 'step.started': {
        const step = steps.get(event.data.step);
        if (step) {
          step.attempts = Math.max(step.attempts, event.data.attempt);
          step.status = 'running';
          step.finishedAt = null;
        } else {
          steps.set(event.data.step, {
            name: event.data.step,
            status: 'running',
            attempts: event.data.attempt,
            startedAt: event.createdAt,
            finishedAt: null,
            durationMs: 0,
            output: null,
            error: null,
            chunks: 0,
          });
        }
        break;
      }
      case 'step.chunk': {
        const step = steps.get(event.data.step);
        if (step) step.chunks++;
        break;
      }
      case 'step.completed': {
        const step = steps.get(event.data.step);
        if (!step) break;
        Object.assign(step, {
          status: 'completed',
          finishedAt: event.createdAt,
          durationMs: step.durationMs + event.data.durationMs,
          output: event.data.output,
          error: null,
        });
        break;
      }
      case 'step.failed': {
        const step = steps.get(event.data.step);
        if (!step) break;
        Object.assign(step, {
          status: event.data.retryAt ? 'retrying' : 'failed',
          finishedAt: event.createdAt,
          durationMs: step.durationMs + event.data.durationMs,
          error: event.data.error,
        });
        break;
      }
      default:
        break;
    }
  }
  return [...steps.values()];
}
