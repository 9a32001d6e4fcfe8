import type { RunEvent } from '@runstream/domain';

/** A promise the test settles: a step awaiting `gate.promise` is held until the test calls `open()`. */
export interface Gate<T = void> {
  promise: Promise<T>;
  open(value: T): void;
  /** Whether something is waiting on the gate: resolves once `promise` was first awaited through `entered()`. */
  entered: Promise<void>;
  enter(): Promise<T>;
}

export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  let markEntered!: () => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  const entered = new Promise<void>((resolve) => (markEntered = resolve));
  return {
    promise,
    open,
    entered,
    enter() {
      markEntered();
      return promise;
    },
  };
}

/** `run.started` workers of a run's log, in order. */
export function startedBy(events: RunEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'run.started' ? [event.data.workerId] : []));
}

/** The log as `type` or `type:step#attempt`, for whole-log comparisons. */
export function outline(events: RunEvent[]): string[] {
  return events.map((event) =>
    event.type.startsWith('step.') && 'step' in event.data
      ? `${event.type}:${event.data.step}#${(event.data as { attempt: number }).attempt}`
      : event.type,
  );
}
