import {
  ConcurrencyError,
  defaults,
  RunNotFoundError,
  RunStatusConflictError,
  stepHistory,
  type RunEvent,
  type StepSummary,
  type TraceContext,
} from '@runstream/domain';
import type { Run, RunPage } from '@runstream/store';
import type { Runtime } from '@runstream/runtime';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createDispatcher } from './dispatcher.js';
import { ShutdownSignal } from './signals.js';
import { createExecutor } from './executor.js';
import { createInstanceRegistry, type Instance } from './instances.js';
import type { JobQueue } from '@runstream/queue';
import type { TracerProvider } from '@opentelemetry/api';
import { createEngineMetrics } from './metrics.js';
import { WorkflowRegistry, type WorkflowInfo } from './registry.js';
import { createSchedules, type ScheduleDefinition, type ScheduleSpec, type ScheduleView } from './schedules.js';
import { createSweeper } from './sweeper.js';
import { createdTraceContext, createEngineTelemetry } from './telemetry.js';
import type { WorkflowDefinition } from './workflow.js';

export interface EngineConfig {
  runtime: Runtime;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- definitions with any input schema
  workflows: Iterable<WorkflowDefinition<any, any>>;
  queue: JobQueue;
  /** Jobs this instance executes at once. Default `defaults.workerConcurrency` (domain). */
  concurrency?: number;
  /** How long a lease lasts without a heartbeat (heartbeats come every third of it). Default `defaults.leaseMs`. */
  leaseMs?: number;
  /** How often this instance sweeps for runs nobody works on, and heartbeats itself. Default `defaults.sweepIntervalMs`. */
  sweepIntervalMs?: number;
  /** An instance silent this long is declared dead and its runs recovered. Default `defaults.instanceStaleMs`. */
  instanceStaleMs?: number;
  /** On shutdown, how long in-flight steps may take to finish before they are aborted. Default `defaults.shutdownGraceMs`. */
  shutdownGraceMs?: number;
  /** Schedules declared in code: upserted when the worker starts. */
  schedules?: Iterable<ScheduleDefinition>;
  /** Longest the scheduler sleeps between looks for due schedules. Default `defaults.schedulePollMs`. */
  schedulePollMs?: number;
  instanceId?: string;
  /**
   * Where run and step spans go (OpenTelemetry). Without one the engine makes no spans; a process that registers
   * an SDK passes `trace.getTracerProvider()` from its composition root.
   */
  tracerProvider?: TracerProvider;
  onError?: (error: unknown, where: string) => void;
}

export interface StartRunInput {
  workflow: string;
  input: unknown;
  idempotencyKey?: string;
  /** The creating request's W3C Trace Context: the run's spans join its trace. */
  trace?: TraceContext;
}

export type Engine = ReturnType<typeof createEngine>;

/**
 * Durable execution on top of a runtime: dispatches drained outbox messages as jobs, executes them under
 * fenced leases, sweeps for abandoned runs, and offers the run operations (start, cancel, retry).
 * `startWorker()` makes this instance execute runs; without it the engine only dispatches (an API node).
 */
export function createEngine(config: EngineConfig) {
  const { runtime, queue } = config;
  const concurrency = config.concurrency ?? defaults.workerConcurrency;
  const leaseMs = config.leaseMs ?? defaults.leaseMs;
  const sweepIntervalMs = config.sweepIntervalMs ?? defaults.sweepIntervalMs;
  const instanceStaleMs = config.instanceStaleMs ?? defaults.instanceStaleMs;
  const shutdownGraceMs = config.shutdownGraceMs ?? defaults.shutdownGraceMs;
  const instanceId = config.instanceId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const onError = config.onError ?? ((error, where) => console.error(`[runstream:engine:${where}]`, error));
  const workflows = new WorkflowRegistry(config.workflows);
  const registry = createInstanceRegistry(runtime.store, instanceId, concurrency);
  const sweep = createSweeper(runtime.store, queue, { overdueMs: Math.max(sweepIntervalMs, 1_000) });
  const metrics = createEngineMetrics();
  const telemetry = createEngineTelemetry({
    metrics,
    clock: runtime.clock,
    ...(config.tracerProvider ? { tracerProvider: config.tracerProvider } : {}),
  });
  const traceOf = async (runId: string) => createdTraceContext(await runtime.eventLog.read(runId, { fromSeq: 1, limit: 1 }));
  const removeDispatcher = runtime.addPublisher(
    createDispatcher(runtime.store, queue, runtime.clock, telemetry.tracing ? traceOf : undefined),
  );

  let draining = false;
  const executor = createExecutor({
    runtime,
    leases: runtime.store.leases,
    workflows,
    queue,
    instanceId,
    leaseMs,
    telemetry,
    draining: () => draining,
    onError,
  });

  async function requireRun(id: string): Promise<Run> {
    const run = await runtime.runs.get(id);
    if (!run) throw new RunNotFoundError(id);
    return run;
  }

  /** Appends what `decide` returns for the run's current state, retrying if the run moved meanwhile. */
  async function transition(id: string, decide: (run: Run) => Parameters<Runtime['eventLog']['append']>[1] | null) {
    for (;;) {
      const run = await requireRun(id);
      const events = decide(run);
      if (!events) return run;
      try {
        await runtime.eventLog.append(id, events, { expectedSeq: run.lastSeq });
        return requireRun(id);
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
      }
    }
  }

  /** Validates the input against the workflow's schema, then creates the run (idempotently, with a key). */
  /** Validates the input against the workflow's schema, then creates the run (idempotently, with a key). */
  async function startRun({ workflow, input, idempotencyKey, trace }: StartRunInput) {
    const definition = workflows.require(workflow);
    const parsed = workflows.parseInput(workflow, input);
    const concurrencyKey = workflows.concurrencyKey(workflow, parsed);
    return runtime.runs.create({
      workflow,
      input,
      workflowVersion: definition.version,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      ...(concurrencyKey === undefined ? {} : { concurrencyKey }),
      ...(trace === undefined ? {} : { trace }),
    });
  }

  const schedules = createSchedules({
    store: runtime.store,
    clock: runtime.clock,
    workflows,
    startRun,
    pollMs: config.schedulePollMs ?? defaults.schedulePollMs,
    onError,
  });

  let sweepTimer: NodeJS.Timeout | null = null;
  let sweeping: Promise<unknown> = Promise.resolve();
  async function housekeeping() {
    await registry.heartbeat(executor.inFlight.size());
    await registry.reapStale(instanceStaleMs);
    await sweep();
  }

  return {
    instanceId,
    workflows,
    /** Histograms of the runs and steps this engine executed (Prometheus exposition: the API's `/metrics`). */
    metrics,

    startRun,

    /**
     * Cancels a run: a queued one at once, a running one by asking its execution to stop (its signal aborts and
     * it ends `cancelled`). Cancelling a cancelled run is harmless; a succeeded or failed one is a conflict.
     */
    cancelRun(id: string): Promise<Run> {
      return transition(id, (run) => {
        switch (run.status) {
          case 'queued':
            return [{ type: 'run.cancelled', data: { reason: 'cancelled before it started' } }];
          case 'running':
            return run.cancelRequested ? null : [{ type: 'run.cancel_requested', data: {} }];
          case 'cancelled':
            return null;
          default:
            throw new RunStatusConflictError(id, run.status, 'cancel');
        }
      });
    },

    /** Sends a failed run back to the queue; completed steps keep their outputs, the failed step runs again. */
    retryRun(id: string): Promise<Run> {
      return transition(id, (run) => {
        if (run.status !== 'failed') throw new RunStatusConflictError(id, run.status, 'retry');
        return [{ type: 'run.retried', data: {} }];
      });
    },

    /** The run's execution history: each step with its status, attempts, duration, output or error. */
    async steps(runId: string): Promise<StepSummary[]> {
      await requireRun(runId);
      const events: RunEvent[] = [];
      for await (const event of runtime.eventLog.readStream(runId)) {
        if (event.type.startsWith('step.')) events.push(event);
      }
      return stepHistory(events);
    },

    /** The dead-letter list: runs that failed, newest first. */
    deadLetters(options: { cursor?: string; limit?: number } = {}): Promise<RunPage> {
      return runtime.runs.list({ ...options, status: 'failed' });
    },

    instances(): Promise<Instance[]> {
      return registry.list();
    },

    workflowList(): WorkflowInfo[] {
      return workflows.list();
    },

    /** One sweep now (tests step it instead of waiting for the interval). */
    sweep,

    /** Creates a schedule; its cron and timezone are checked (a ValidationError names the field). */
    createSchedule: (spec: ScheduleSpec): Promise<ScheduleView> => schedules.create(spec),
    listSchedules: (): Promise<ScheduleView[]> => schedules.list(),
    getSchedule: (id: string): Promise<ScheduleView> => schedules.get(id),
    pauseSchedule: (id: string): Promise<ScheduleView> => schedules.pause(id),
    resumeSchedule: (id: string): Promise<ScheduleView> => schedules.resume(id),
    deleteSchedule: (id: string): Promise<void> => schedules.delete(id),
    /** One scheduler pass now: starts the runs of every due tick; resolves with how many it created. */
    fireDueSchedules: (): Promise<number> => schedules.fireDue(),

    /** Starts executing jobs on this instance: registers it, consumes the queue, sweeps and heartbeats. */
    async startWorker(): Promise<void> {
      await registry.register();
      await schedules.upsert(config.schedules ?? []);
      schedules.start();
      await queue.startWorker((job) => executor.handle(job), concurrency);
      sweepTimer = setInterval(() => {
        sweeping = housekeeping().catch((error) => onError(error, 'sweeper'));
      }, sweepIntervalMs);
    },

    /** Executions in flight on this instance. */
    load: () => executor.inFlight.size(),

    /**
     * Graceful shutdown: stop taking jobs, let in-flight steps finish (no new step starts; those runs are handed
     * off with their lease released so another worker resumes at once), abort what is left after the grace
     * period, then close the queue.
     */
    async close(): Promise<void> {
      draining = true;
      if (sweepTimer) clearInterval(sweepTimer);
      await schedules.stop();
      await sweeping;
      const closingWorker = queue.closeWorker();
      const grace = setTimeout(() => executor.inFlight.abortAll(new ShutdownSignal()), shutdownGraceMs);
      await executor.inFlight.settled();
      clearTimeout(grace);
      await closingWorker;
      removeDispatcher();
      if (sweepTimer) await registry.stopped().catch((error) => onError(error, 'registry'));
      await queue.close();
    },
  };
}
