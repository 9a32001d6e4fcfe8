import type { RunEvent } from '@runstream/domain';

export interface StepRecord {
  completed: boolean;
  output: unknown;
  /** Highest attempt number started. */
  lastAttempt: number;
  /** Attempts started since the run was last sent back by retryRun (the current retry budget's usage). */
  attemptsInBudget: number;
  /** Set while the step waits for its next attempt. */
  retryAt: Date | null;
}

/** What an execution needs to know of the run's past to replay deterministically. */
export interface ExecutionHistory {
  steps: Map<string, StepRecord>;
  /** Durable timers already started, by name, with their wake-up time. */
  sleeps: Map<string, Date>;
}

export function foldHistory(events: Iterable<RunEvent>): ExecutionHistory {
  const steps = new Map<string, StepRecord>();
  const sleeps = new Map<string, Date>();
  for (const event of events) {
    switch (event.type) {
      case 'run.retried':
        for (const step of steps.values()) {
          step.attemptsInBudget = 0;
          step.retryAt = null;
        }
        break;
      case 'step.started': {
        const step = steps.get(event.data.step) ?? {
          completed: false,
          output: null,
          lastAttempt: 0,
          attemptsInBudget: 0,
          retryAt: null,
        };
        step.lastAttempt = Math.max(step.lastAttempt, event.data.attempt);
        step.attemptsInBudget++;
        step.retryAt = null;
        steps.set(event.data.step, step);
        break;
      }
      case 'step.completed': {
        const step = steps.get(event.data.step);
        if (step) Object.assign(step, { completed: true, output: event.data.output, retryAt: null });
        break;
      }
      case 'step.failed': {
        const step = steps.get(event.data.step);
        if (step) step.retryAt = event.data.retryAt ? new Date(event.data.retryAt) : null;
        break;
      }
      case 'run.sleeping':
        sleeps.set(event.data.name, new Date(event.data.until));
        break;
      default:
        break;
    }
  }
  return { steps, sleeps };
}
