import {
  backoffDelay,
  foldStepHistory,
  isDependencyOutage,
  isTerminal,
  LeaseLostError,
  runStartedKey,
  type RunEvent,
} from '@runstream/domain';
import type { EventLog, Leases, Run } from '@runstream/store';
import type { Runtime } from '@runstream/runtime';
import { RunCancelledSignal, ShutdownSignal, StepFailedError, Suspension } from './signals.js';
import { createWorkflowContext, errorInfo, toJson } from './workflow-context.js';
import type { JobQueue, RunJob } from '@runstream/queue';
import type { WorkflowRegistry } from './registry.js';
import { withinBound } from './bounded.js';
import { createdTraceContext, type EngineTelemetry, type ExecutionOutcome, type ExecutionTelemetry } from './telemetry.js';

export interface ExecutorConfig {
  runtime: Runtime;
  leases: Leases;
  workflows: WorkflowRegistry;
  queue: JobQueue;
  /** This engine instance: the lease owner written on the run. */
  instanceId: string;
  leaseMs: number;
  telemetry: EngineTelemetry;
  /** Whether the engine is shutting down (steps stop starting; runs are handed off). */
  draining(): boolean;
  /** Creates a run as `parentRunId`'s child, idempotently under `idempotencyKey`; resolves with its id. */
  startChildRun(parentRunId: string, workflow: string, input: unknown, idempotencyKey: string): Promise<string>;
  /**
   * Whether a queued run's `after` dependencies all succeeded; when one failed or was cancelled, the run is
   * cancelled (naming it) and this is false.
   */
  dependenciesMet(run: Run): Promise<boolean>;
  onError(error: unknown, where: string): void;
}

/** What an execution needs to know of its run to notice a cancel request. */
interface CancelState {
  lastSeq: number;
  cancelRequested: boolean;
}

/** Executions in flight on this instance, so shutdown can wait for them and metrics can count them. */
export interface InFlight {
  size(): number;
  abortAll(reason: unknown): void;
  settled(): Promise<void>;
}

/**
 * How long one call to PostgreSQL on an execution's path may take before it counts as an outage: a third of the
 * lease, so a stalled connection is noticed (and the call retried elsewhere) while the lease still holds.
 */
export function databaseWaitMs(leaseMs: number): number {
  return Math.max(250, Math.floor(leaseMs / 3));
}

/**
 * Runs one job: take the run's lease, replay its history into a fresh workflow context, and record the outcome.
 * A job that cannot take the lease does nothing — whoever holds it (or the sweeper, once it expires) carries on.
 *
 * PostgreSQL outages: every call on this path is bounded (`databaseWaitMs`); a job this node cannot serve (it
 * cannot read the run or take its lease) goes back to the queue for another node. An execution retries an append
 * that failed for an outage, with backoff, for as long as its lease holds (its events are keyed, so an append that
 * committed before the connection dropped is not written twice): an outage is not a step failure. An execution
 * whose calls have not gone through for a whole lease stops renewing it; once the lease has run out unrenewed it
 * stops, whatever its step is doing, without a write (the fence would refuse one anyway), and another worker
 * resumes the run from its log.
 */
export function createExecutor(config: ExecutorConfig) {
  const { runtime, leases, workflows, queue, instanceId, leaseMs, telemetry } = config;
  const waitMs = databaseWaitMs(leaseMs);
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  /** The run's concurrency key from its input; undefined when it has none or the input no longer parses (the run fails on it). */
  function keyOf(name: string, input: unknown): string | undefined {
    try {
      return workflows.concurrencyKey(name, workflows.parseInput(name, input));
    } catch {
      return undefined;
    }
  }

  async function handle(job: RunJob): Promise<void> {
    let taken: Awaited<ReturnType<typeof takeLease>>;
    try {
      taken = await takeLease(job);
    } catch (error) {
      if (!isDependencyOutage(error)) throw error;
      // This node cannot reach PostgreSQL: the job goes back to the queue, for a node that can (or this one, later).
      await queue.enqueue(job, {
        jobId: `${job.runId}-outage-${Date.now()}`,
        delayMs: waitMs + Math.round(Math.random() * waitMs),
      });
      return;
    }
    if (!taken) return;
    const { token, heldUntil } = taken;

    const controller = new AbortController();
    const done = execute(job, token, heldUntil, controller).finally(() => running.delete(job.runId));
    running.set(job.runId, { controller, done });
    await done;
  }

  /** The run's lease for this node, or null when there is nothing to execute here (now). */
  async function takeLease(job: RunJob): Promise<{ token: number; heldUntil: number } | null> {
    const run = await withinBound(runtime.runs.get(job.runId), waitMs, 'reading the run');
    if (!run || isTerminal(run.status)) return null;
    if (run.status === 'queued' && run.after.length > 0 && !(await withinBound(config.dependenciesMet(run), waitMs, 'checking dependencies'))) {
      return null;
    }
    const workflow = workflows.get(run.workflow);
    if (!workflow) {
      config.onError(new Error(`run ${run.id}: workflow ${run.workflow} is not registered on this worker`), 'executor');
      return null;
    }
    // A run created by a node without the workflow's code has no key yet: it is taken here, from the input.
    const concurrencyKey = workflow.keyConcurrency && run.concurrencyKey === null ? keyOf(run.workflow, run.input) : undefined;
    const askedAt = runtime.clock.now().getTime();
    const lease = await withinBound(
      leases.acquire(run.id, instanceId, {
        leaseMs,
        ...(workflow.concurrency === undefined ? {} : { concurrency: workflow.concurrency }),
        ...(workflow.keyConcurrency === undefined ? {} : { keyConcurrency: workflow.keyConcurrency.limit }),
        ...(concurrencyKey === undefined ? {} : { concurrencyKey }),
      }),
      waitMs,
      'taking the lease',
    );
    if (lease.kind === 'throttled') {
      await queue.enqueue(
        { runId: run.id, reason: 'throttled', ...(job.trace ? { trace: job.trace } : {}) },
        { jobId: `${run.id}-throttled-${Date.now()}`, delayMs: 250 + Math.round(Math.random() * 500) },
      );
      return null;
    }
    return lease.kind === 'acquired' ? { token: lease.token, heldUntil: askedAt + leaseMs } : null;
  }

  async function execute(job: RunJob, token: number, leaseHeldUntil: number, controller: AbortController): Promise<void> {
    const { runId } = job;
    const { clock, bus } = runtime;
    const fence = { token };
    /** When the lease runs out unless renewed (on this node's clock, as of the last renewal sent before it). */
    let leaseUntil = leaseHeldUntil;
    /** Since when this execution's calls to PostgreSQL have been failing; null while they go through. */
    let failingSince: number | null = null;

    /**
     * `call`, retried with backoff while it fails for an outage and the lease holds. Gives up with LeaseLostError
     * (aborting the execution) once the lease has run out, or with the abort reason once the lease was lost or
     * the engine's shutdown grace is over; a cancel still gets its run.cancelled written.
     */
    async function durably<T>(what: string, call: () => Promise<T>): Promise<T> {
      for (let retry = 1; ; retry++) {
        try {
          const result = await withinBound(call(), waitMs, what);
          failingSince = null;
          return result;
        } catch (error) {
          if (!isDependencyOutage(error)) throw error;
          const now = clock.now().getTime();
          failingSince ??= now;
          const { reason } = controller.signal;
          if (reason instanceof LeaseLostError || reason instanceof ShutdownSignal) throw reason;
          const pause = backoffDelay(retry, { baseMs: 25, maxMs: waitMs });
          if (now + pause >= leaseUntil) {
            const lost = new LeaseLostError(runId, token);
            controller.abort(lost);
            throw lost;
          }
          await new Promise((resolve) => setTimeout(resolve, pause));
        }
      }
    }
    /**
     * Cancel requests arrive as bus signals, and so do this execution's own appends: the bus delivers those
     * synchronously, before the append's promise resolves. Every append's result carries the run's cancel flag
     * as of its commit, so a signal heard while one of our own appends (or the opening read) is in flight is
     * held, and re-read only if it goes past what that append saw. `knownSeq`: the run's log up to here has
     * been seen for cancels.
     */
    let knownSeq = 0;
    let ownInFlight = 0;
    let heldSeq = 0;
    const seen = (state: CancelState) => {
      knownSeq = Math.max(knownSeq, state.lastSeq);
      if (state.cancelRequested && !controller.signal.aborted) controller.abort(new RunCancelledSignal());
    };
    const checkCancel = () => {
      withinBound(runtime.runs.get(runId), waitMs, 'reading the run').then(
        (current) => {
          if (current) seen(current);
        },
        (error: unknown) => config.onError(error, 'cancel'),
      );
    };
    /** Runs one of this execution's own reads or appends; `state` is the run as that operation saw it. */
    async function own<T>(operation: () => Promise<T>, state: (result: T) => CancelState | null): Promise<T> {
      ownInFlight++;
      try {
        const result = await durably('a call to PostgreSQL', operation);
        const after = state(result);
        if (after) seen(after);
        return result;
      } finally {
        if (--ownInFlight === 0 && heldSeq > 0) {
          if (heldSeq > knownSeq) checkCancel();
          heldSeq = 0;
        }
      }
    }
    const eventLog: EventLog = {
      ...runtime.eventLog,
      append: (id, events, options) =>
        own(
          () => runtime.eventLog.append(id, events, options),
          (result) => ({ lastSeq: result.lastSeq, cancelRequested: result.state.cancelRequested }),
        ),
    };
    const heartbeat = setInterval(() => {
      const now = clock.now().getTime();
      // Not renewed in time (PostgreSQL unreachable): another worker may hold the run now, so this one stops,
      // whatever its step is doing, and frees its slot.
      if (now >= leaseUntil) {
        controller.abort(new LeaseLostError(runId, token));
        return;
      }
      // Blocked on PostgreSQL for a whole lease: let the lease run out, so another worker can take the run over.
      if (failingSince !== null && now - failingSince >= leaseMs) return;
      const sentAt = now;
      withinBound(leases.renew(runId, token, leaseMs), waitMs, 'renewing the lease').then(
        (held) => {
          if (held) leaseUntil = Math.max(leaseUntil, sentAt + leaseMs);
          else controller.abort(new LeaseLostError(runId, token));
        },
        (error: unknown) => {
          if (!isDependencyOutage(error)) config.onError(error, 'heartbeat');
        },
      );
    }, Math.max(50, Math.floor(leaseMs / 3)));
    const unsubscribe = bus.subscribe(runId, (signal) => {
      if (signal.kind === 'appended' && signal.lastSeq <= knownSeq) return;
      if (signal.kind === 'appended' && ownInFlight > 0) heldSeq = Math.max(heldSeq, signal.lastSeq);
      else checkCancel();
    });

    let execution: ExecutionTelemetry | undefined;
    try {
      // Replay needs step outcomes and timers, not the (possibly huge) stream of chunks and outputs.
      let events: RunEvent[] = [];
      let historySeq = 0;
      const run = await own(
        async () => {
          // A read cut off by an outage is retried from the start.
          events = [];
          historySeq = 0;
          for await (const event of eventLog.readStream(runId)) {
            if (event.type !== 'step.chunk' && event.type !== 'run.output') events.push(event);
            historySeq = event.seq;
          }
          return runtime.runs.get(runId);
        },
        (current) => current,
      );
      if (!run) return;
      const attempt = run.attempts + 1;
      // The job carries the creating request's trace to a first execution; later ones find it in the replayed log.
      execution = telemetry.startExecution(run, attempt, job.trace ?? createdTraceContext(events));
      if (run.cancelRequested) {
        await eventLog.append(runId, [{ type: 'run.cancelled', data: { reason: 'cancel requested' } }], { fence });
        execution.end('cancelled');
        return;
      }
      const workflow = workflows.get(run.workflow)!;
      await eventLog.append(
        runId,
        [{ type: 'run.started', data: { attempt, workerId: instanceId }, key: runStartedKey(attempt) }],
        { fence },
      );
      execution.started();
      const context = createWorkflowContext({
        runId,
        token,
        eventLog,
        clock,
        workflow,
        signal: controller.signal,
        draining: config.draining,
        history: foldStepHistory(events),
        telemetry: execution,
        historySeq,
        startChildRun: (childWorkflow, input, key) => config.startChildRun(runId, childWorkflow, input, key),
      });
      try {
        const output = await execution.within(() => workflow.run(context, workflow.input.parse(run.input)));
        await eventLog.append(runId, [{ type: 'run.succeeded', data: { output: toJson(output) } }], {
          fence,
        });
        execution.end('succeeded');
      } catch (error) {
        execution.end(await settle(job, token, error, controller.signal, eventLog), error);
      }
    } catch (error) {
      execution?.end(error instanceof LeaseLostError ? 'lease_lost' : 'error', error);
      if (!(error instanceof LeaseLostError)) config.onError(error, 'executor');
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
    }
  }

  /** Records how an execution that threw ended: suspended, handed off, cancelled, zombie, or failed. */
  async function settle(
    job: RunJob,
    token: number,
    error: unknown,
    signal: AbortSignal,
    eventLog: EventLog,
  ): Promise<ExecutionOutcome> {
    const { runId } = job;
    const fence = { token };
    const reason = signal.aborted ? signal.reason : error;
    if (reason instanceof LeaseLostError) return 'lease_lost';
    if (reason instanceof ShutdownSignal || (error instanceof Suspension && error.reason === 'handoff')) {
      await withinBound(leases.release(runId, token), waitMs, 'releasing the lease');
      await queue.enqueue(
        { runId, reason: 'handoff', ...(job.trace ? { trace: job.trace } : {}) },
        { jobId: `${runId}-handoff-${token}` },
      );
      return 'handed_off';
    }
    if (error instanceof Suspension) {
      if (!error.released) await withinBound(leases.release(runId, token), waitMs, 'releasing the lease');
      return 'suspended';
    }
    if (reason instanceof RunCancelledSignal) {
      await eventLog.append(runId, [{ type: 'run.cancelled', data: { reason: 'cancel requested' } }], { fence });
      return 'cancelled';
    }
    const failure = reason instanceof StepFailedError ? reason : null;
    await eventLog.append(
      runId,
      [{ type: 'run.failed', data: { error: errorInfo(reason), ...(failure ? { step: failure.step } : {}) } }],
      { fence },
    );
    return 'failed';
  }

  const inFlight: InFlight = {
    size: () => running.size,
    abortAll(reason) {
      for (const { controller } of running.values()) controller.abort(reason);
    },
    async settled() {
      await Promise.allSettled([...running.values()].map(({ done }) => done));
    },
  };

  return { handle, inFlight };
}
