import {
  childSignalName,
  IllegalTransitionError,
  isTerminal,
  terminalEventStatus,
  type ChildOutcome,
  type Clock,
} from '@runstream/domain';
import type { OutboxMessage, OutboxPublisher } from '@runstream/outbox';
import type { JobQueue, JobTraceContext } from '@runstream/queue';
import type { Store } from '@runstream/store';

/**
 * Event types after which a run needs a worker now. A signal the run does not wait for makes a job that finds
 * the run held or suspended and does nothing.
 */
const startTypes: ReadonlySet<string> = new Set(['run.created', 'run.retried', 'run.cancel_requested', 'signal.received']);
/** Event types after which a suspended run needs a worker at its wake-up time. */
const suspendTypes: ReadonlySet<string> = new Set(['run.sleeping', 'step.failed', 'run.waiting']);

const terminalTypes: ReadonlySet<string> = new Set(Object.keys(terminalEventStatus));

/**
 * Tells a finished child run's parent: a `child:<id>` signal carrying the child's status and output or error,
 * keyed by the child, so a message published twice delivers it once. A parent that finished first takes nothing.
 */
async function notifyParent(store: Pick<Store, 'runs' | 'events'>, runId: string): Promise<void> {
  const child = await store.runs.get(runId);
  if (!child?.parentRunId || !isTerminal(child.status)) return;
  const outcome: ChildOutcome = {
    status: child.status,
    ...(child.status === 'succeeded' ? { output: (child.output ?? null) as ChildOutcome['output'] } : { error: child.error }),
  };
  try {
    await store.events.append(child.parentRunId, [
      { type: 'signal.received', data: { signal: childSignalName(child.id), data: outcome }, key: childSignalName(child.id) },
    ]);
  } catch (error) {
    if (!(error instanceof IllegalTransitionError)) throw error;
  }
}

/**
 * Turns drained outbox messages into jobs, the end of a child run into a signal to its parent, and the end of a
 * run others wait for (`after`) into jobs for them. The job id is derived from the message (run and last seq), so a
 * message published twice — the outbox is at-least-once — still makes one job. With `traceOf` (tracing on), a
 * new run's job carries the trace context its `run.created` event recorded (the outbox row holds ids only).
 */
export function createDispatcher(
  store: Pick<Store, 'runs' | 'events'>,
  queue: JobQueue,
  clock: Clock,
  traceOf?: (runId: string) => Promise<JobTraceContext | undefined>,
): OutboxPublisher {
  return {
    async publish(message: OutboxMessage) {
      if (message.eventTypes.some((type) => terminalTypes.has(type))) {
        await notifyParent(store, message.runId);
        // Runs started `after` this one check their dependencies again: start, or be cancelled naming it.
        for (const dependent of await store.runs.queuedDependents(message.runId)) {
          await queue.enqueue({ runId: dependent, reason: 'start' }, { jobId: `${dependent}-after-${message.runId}` });
        }
      }
      const jobId = `${message.runId}-${message.lastSeq}`;
      if (message.eventTypes.some((type) => startTypes.has(type))) {
        const trace = traceOf && message.eventTypes.includes('run.created') ? await traceOf(message.runId) : undefined;
        await queue.enqueue({ runId: message.runId, reason: 'start', ...(trace ? { trace } : {}) }, { jobId });
        return;
      }
      if (!message.eventTypes.some((type) => suspendTypes.has(type))) return;
      const wakeAt = await store.runs.suspendedWakeAt(message.runId);
      if (!wakeAt) return;
      const delayMs = Math.max(0, wakeAt.getTime() - clock.now().getTime());
      await queue.enqueue({ runId: message.runId, reason: 'wake' }, { jobId, delayMs });
    },
  };
}
