import type { Clock } from '@runstream/domain';
import type { OutboxMessage, OutboxPublisher } from '@runstream/outbox';
import type { JobQueue, JobTraceContext } from '@runstream/queue';
import type { Store } from '@runstream/store';

/** Event types after which a run needs a worker now. */
const startTypes: ReadonlySet<string> = new Set(['run.created', 'run.retried', 'run.cancel_requested']);
/** Event types after which a suspended run needs a worker at its wake-up time. */
const suspendTypes: ReadonlySet<string> = new Set(['run.sleeping', 'step.failed']);

/**
 * Turns drained outbox messages into jobs. The job id is derived from the message (run and last seq), so a
 * message published twice — the outbox is at-least-once — still makes one job. With `traceOf` (tracing on), a
 * new run's job carries the trace context its `run.created` event recorded (the outbox row holds ids only).
 */
export function createDispatcher(
  store: Pick<Store, 'runs'>,
  queue: JobQueue,
  clock: Clock,
  traceOf?: (runId: string) => Promise<JobTraceContext | undefined>,
): OutboxPublisher {
  return {
    async publish(message: OutboxMessage) {
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
