/** Why a run is being (re-)executed. Jobs carry ids, this reason and a trace context; the log holds everything else. */
export type WakeReason = 'start' | 'wake' | 'recover' | 'handoff' | 'throttled';

/** A W3C Trace Context (`traceparent`, `tracestate`), as the domain records it with a run. */
export interface JobTraceContext {
  traceparent: string;
  tracestate?: string;
}

export interface RunJob {
  runId: string;
  reason: WakeReason;
  /** The trace of the request that created the run, so the worker continues it (set only while tracing is on). */
  trace?: JobTraceContext;
}

export interface EnqueueOptions {
  /** Deterministic id: enqueueing the same id twice yields one job. */
  jobId: string;
  delayMs?: number;
}

export type JobHandler = (job: RunJob) => Promise<void>;

/** The queue port the engine dispatches through; BullMQ implements it on Redis or PostgreSQL. */
export interface JobQueue {
  readonly backend: 'redis' | 'postgres';
  enqueue(job: RunJob, options: EnqueueOptions): Promise<void>;
  /** Starts consuming with `concurrency` jobs at once. */
  startWorker(handler: JobHandler, concurrency: number): Promise<void>;
  /** Stops taking new jobs and waits for the ones in hand. */
  closeWorker(): Promise<void>;
  /** Jobs waiting, delayed and active (for metrics and health). */
  counts(): Promise<{ waiting: number; delayed: number; active: number }>;
  /** Resolves once the backend answers; until then it keeps trying (callers bound the wait). */
  waitUntilReady(): Promise<void>;
  /** Throws when the backend is unreachable. */
  ping(): Promise<void>;
  /** Deletes every job of this namespace (tests, and tearing a deployment down). */
  obliterate(): Promise<void>;
  close(): Promise<void>;
}
