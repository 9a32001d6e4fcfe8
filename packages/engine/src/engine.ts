import {
  ConcurrencyError,
  defaults,
  isTerminal,
  parseWith,
  signalKey,
  signalNameSchema,
  RunNotFoundError,
  RunStatusConflictError,
  stepHistory,
  UnknownWorkflowError,
  ValidationError,
  type RunEvent,
  type ValidationIssue,
  type StepSummary,
  type TraceContext,
} from '@runstream/domain';
import type { Run, RunPage } from '@runstream/store';
import type { Runtime } from '@runstream/runtime';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createDispatcher } from './dispatcher.js';
import { checkSignalData } from './signal-data.js';
import { ShutdownSignal } from './signals.js';
import { createExecutor, databaseWaitMs } from './executor.js';
import { withinBound } from './bounded.js';
import { createInstanceRegistry, type Instance } from './instances.js';
import type { JobQueue } from '@runstream/queue';
import type { TracerProvider } from '@opentelemetry/api';
import { createEngineMetrics } from './metrics.js';
import { createRegisteredInputCheck } from './registered-input.js';
import { WorkflowRegistry, type WorkflowInfo } from './registry.js';
import { createSchedules, type ScheduleDefinition, type ScheduleSpec, type ScheduleView } from './schedules.js';
import { createSweeper } from './sweeper.js';
import { createdTraceContext, createEngineTelemetry } from './telemetry.js';
import type { WorkflowDefinition } from './workflow.js';
import { mergeWorkflowListing, type WorkflowListing } from './workflow-listing.js';

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
  /** The run starting this one (`ctx.startChild`). */
  parentRunId?: string;
  /**
   * Runs that must succeed first: the run stays queued until they have; if one fails or is cancelled, so is this
   * one (the reason names it). An id that names no run is a ValidationError on `after[i]`.
   */
  after?: string[];
}

export interface SendSignalInput {
  data: unknown;
  /** Delivery is exactly-once per key and run: a repeat is accepted and changes nothing. */
  idempotencyKey?: string;
}

export interface SignalDelivery {
  run: Run;
  /** The seq of the `signal.received` event; null when the key had already delivered it. */
  seq: number | null;
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

  let serving = false;
  const checkRegisteredInput = createRegisteredInputCheck();

  /**
   * Validates the input, then creates the run (idempotently, with a key). A workflow this node has is checked
   * with its zod schema; one only workers registered, with the registered JSON Schema (so API nodes need no
   * user code). Unless this node's own worker runs it, a workflow no live worker serves is accepted with a
   * waiting reason that the first lease clears.
   */
  async function startRun({ workflow, input, idempotencyKey, trace, parentRunId, after = [] }: StartRunInput) {
    const local = workflows.get(workflow);
    const registered = local && serving ? null : await runtime.store.workflowVersions.current(workflow, instanceStaleMs);
    if (!local && !registered) throw new UnknownWorkflowError(workflow);
    let workflowVersion: string;
    let concurrencyKey: string | undefined;
    if (local) {
      workflowVersion = local.version;
      concurrencyKey = workflows.concurrencyKey(workflow, workflows.parseInput(workflow, input));
    } else {
      // The key function is code this node lacks: the worker takes the key when it leases the run.
      checkRegisteredInput(`${registered!.workflow}@${registered!.version}`, registered!.inputSchema, input);
      workflowVersion = registered!.version;
    }
    const waitingReason = local && serving ? undefined : registered?.workers.length ? undefined : `no live worker serves ${workflow}`;
    const statuses = await runtime.runs.statuses(after);
    const unknown = after.flatMap((id, i) => (statuses.has(id) ? [] : [{ field: `after[${i}]`, message: `no run ${id}` }]));
    if (unknown.length > 0) throw new ValidationError(unknown as [ValidationIssue, ...ValidationIssue[]]);
    const result = await runtime.runs.create({
      workflow,
      input,
      workflowVersion,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      ...(concurrencyKey === undefined ? {} : { concurrencyKey }),
      ...(waitingReason === undefined ? {} : { waitingReason }),
      ...(trace === undefined ? {} : { trace }),
      ...(parentRunId === undefined ? {} : { parentRunId }),
      ...(after.length > 0 ? { after } : {}),
    });
    // A dependency that already failed cancels the run now; one that ends later, when it does (the dispatcher).
    if (result.created && after.length > 0 && !(await dependenciesMet(result.run))) {
      return { ...result, run: await requireRun(result.run.id) };
    }
    return result;
  }

  async function dependenciesMet(run: Run): Promise<boolean> {
    const statuses = await runtime.runs.statuses(run.after);
    const blocker = run.after.find((id) => statuses.get(id) === 'failed' || statuses.get(id) === 'cancelled');
    if (blocker) {
      await transition(run.id, (current) =>
        current.status === 'queued'
          ? [{ type: 'run.cancelled', data: { reason: `dependency ${blocker} ${statuses.get(blocker)}` } }]
          : null,
      );
      return false;
    }
    return run.after.every((id) => statuses.get(id) === 'succeeded');
  }

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
    dependenciesMet,
    async startChildRun(parentRunId, workflow, input, idempotencyKey) {
      return (await startRun({ workflow, input, idempotencyKey, parentRunId })).run.id;
    },
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

  const schedules = createSchedules({
    store: runtime.store,
    clock: runtime.clock,
    workflows,
    startRun,
    pollMs: config.schedulePollMs ?? defaults.schedulePollMs,
    onError,
  });

  /** Cancels the unfinished runs `parentRunId` started (each cascading to its own children). */
  async function cancelChildren(parentRunId: string): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await runtime.runs.list({ parentRunId, status: ['queued', 'running'], limit: 200, ...(cursor ? { cursor } : {}) });
      for (const child of page.runs) await engine.cancelRun(child.id).catch((error: unknown) => {
        // A child that finished meanwhile cannot be cancelled: nothing to do.
        if (!(error instanceof RunStatusConflictError)) throw error;
      });
      cursor = page.nextCursor;
    } while (cursor);
  }

  let sweepTimer: NodeJS.Timeout | null = null;
  let sweeping: Promise<unknown> = Promise.resolve();
  async function housekeeping() {
    await registry.heartbeat(executor.inFlight.size());
    await runtime.store.workflowVersions.touch(instanceId);
    await registry.reapStale(instanceStaleMs);
    await sweep();
  }

  const engine = {
    instanceId,
    workflows,
    /** Histograms of the runs and steps this engine executed (Prometheus exposition: the API's `/metrics`). */
    metrics,

    startRun,

    /**
     * Cancels a run: a queued one at once, a running one by asking its execution to stop (its signal aborts and
     * it ends `cancelled`). Cancelling a cancelled run is harmless; a succeeded or failed one is a conflict.
     */
    async cancelRun(id: string): Promise<Run> {
      const cancelled = await transition(id, (run) => {
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
      await cancelChildren(id);
      return cancelled;
    },

    /**
     * Delivers a signal to a run as a `signal.received` event, kept until a wait of that name takes it. While
     * the run waits for `signal`, the data is checked against the JSON Schema the wait recorded; the append is
     * guarded by the seq that check saw, so a wait recorded meanwhile makes it check again. A finished run is a
     * conflict.
     */
    async sendSignal(id: string, signal: string, { data, idempotencyKey }: SendSignalInput): Promise<SignalDelivery> {
      parseWith(signalNameSchema, signal, 'name');
      // A child run's end is delivered to its parent under `child:<id>`; nobody else may send that.
      if (signal.startsWith('child:')) throw new ValidationError([{ field: 'name', message: 'the child: prefix is reserved for child runs' }]);
      for (;;) {
        const run = await requireRun(id);
        if (isTerminal(run.status)) throw new RunStatusConflictError(id, run.status, 'signal');
        if (run.waiting?.signal === signal) checkSignalData(run.waiting.schema, data);
        try {
          const result = await runtime.eventLog.append(
            id,
            [
              {
                type: 'signal.received',
                data: { signal, data: data ?? null, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) },
                ...(idempotencyKey === undefined ? {} : { key: signalKey(idempotencyKey) }),
              },
            ],
            { expectedSeq: run.lastSeq },
          );
          return { run: await requireRun(id), seq: result.events[0]?.seq ?? null };
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) throw error;
        }
      }
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

    /** The workflows this node has the code of. */
    workflowList(): WorkflowInfo[] {
      return workflows.list();
    },

    /** The deployment's workflows: this node's merged with the registered ones, with versions and live workers. */
    async listWorkflows(): Promise<WorkflowListing[]> {
      return mergeWorkflowListing(workflows.list(), await runtime.store.workflowVersions.list(instanceStaleMs));
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
      await runtime.store.workflowVersions.register(instanceId, workflows.registrations());
      serving = true;
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
     * period, then close the queue. Every wait on PostgreSQL here is bounded, so close finishes within the grace
     * period (and a few bounded calls) even when PostgreSQL does not answer.
     */
    async close(): Promise<void> {
      draining = true;
      serving = false;
      if (sweepTimer) clearInterval(sweepTimer);
      await withinBound(schedules.stop(), shutdownGraceMs, 'the last schedules pass').catch(() => {});
      await withinBound(sweeping, shutdownGraceMs, 'the last sweep').catch(() => {});
      const closingWorker = queue.closeWorker();
      const grace = setTimeout(() => executor.inFlight.abortAll(new ShutdownSignal()), shutdownGraceMs);
      await executor.inFlight.settled();
      clearTimeout(grace);
      await closingWorker;
      removeDispatcher();
      if (sweepTimer) {
        await withinBound(registry.stopped(), databaseWaitMs(leaseMs), 'deregistering').catch((error: unknown) =>
          onError(error, 'registry'),
        );
      }
      await queue.close();
    },
  };
  return engine;
}
