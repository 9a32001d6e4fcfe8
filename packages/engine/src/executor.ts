import { foldStepHistory, isTerminal, LeaseLostError, type RunEvent } from '@runstream/domain';
import type { EventLog, Leases, Run } from '@runstream/store';
import type { Runtime } from '@runstream/runtime';
import { RunCancelledSignal, ShutdownSignal, StepFailedError, Suspension } from './signals.js';
import { createWorkflowContext, errorInfo, toJson } from './workflow-context.js';
import type { JobQueue, RunJob } from '@runstream/queue';
import type { WorkflowRegistry } from './registry.js';
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
 * Runs one job: take the run's lease, replay its history into a fresh workflow context, and record the outcome.
 * A job that cannot take the lease does nothing — whoever holds it (or the sweeper, once it expires) carries on.
 */
export function createExecutor(config: ExecutorConfig) {
  const { runtime, leases, workflows, queue, instanceId, leaseMs, telemetry } = config;
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
    const run = await runtime.runs.get(job.runId);
    if (!run || isTerminal(run.status)) return;
    if (run.status === 'queued' && run.after.length > 0 && !(await config.dependenciesMet(run))) return;
    const workflow = workflows.get(run.workflow);
    if (!workflow) {
      config.onError(new Error(`run ${run.id}: workflow ${run.workflow} is not registered on this worker`), 'executor');
      return;
    }
    // A run created by a node without the workflow's code has no key yet: it is taken here, from the input.
    const concurrencyKey = workflow.keyConcurrency && run.concurrencyKey === null ? keyOf(run.workflow, run.input) : undefined;
    const lease = await leases.acquire(run.id, instanceId, {
      leaseMs,
      ...(workflow.concurrency === undefined ? {} : { concurrency: workflow.concurrency }),
      ...(workflow.keyConcurrency === undefined ? {} : { keyConcurrency: workflow.keyConcurrency.limit }),
      ...(concurrencyKey === undefined ? {} : { concurrencyKey }),
    });
    if (lease.kind === 'throttled') {
      await queue.enqueue(
        { runId: run.id, reason: 'throttled', ...(job.trace ? { trace: job.trace } : {}) },
        { jobId: `${run.id}-throttled-${Date.now()}`, delayMs: 250 + Math.round(Math.random() * 500) },
      );
      return;
    }
    if (lease.kind !== 'acquired') return;

    const controller = new AbortController();
    const done = execute(job, lease.token, controller).finally(() => running.delete(run.id));
    running.set(run.id, { controller, done });
    await done;
  }

  async function execute(job: RunJob, token: number, controller: AbortController): Promise<void> {
    const { runId } = job;
    const { clock, bus } = runtime;
    const fence = { token };
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
      runtime.runs.get(runId).then(
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
        const result = await operation();
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
      leases.renew(runId, token, leaseMs).then(
        (held) => held || controller.abort(new LeaseLostError(runId, token)),
        (error: unknown) => config.onError(error, 'heartbeat'),
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
      const events: RunEvent[] = [];
      let historySeq = 0;
      const run = await own(
        async () => {
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
      await eventLog.append(runId, [{ type: 'run.started', data: { attempt, workerId: instanceId } }], { fence });
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
        execution.end(await settle(job, token, error, controller.signal), error);
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
  async function settle(job: RunJob, token: number, error: unknown, signal: AbortSignal): Promise<ExecutionOutcome> {
    const { runId } = job;
    const fence = { token };
    const reason = signal.aborted ? signal.reason : error;
    if (reason instanceof LeaseLostError) return 'lease_lost';
    if (reason instanceof ShutdownSignal || (error instanceof Suspension && error.reason === 'handoff')) {
      await leases.release(runId, token);
      await queue.enqueue(
        { runId, reason: 'handoff', ...(job.trace ? { trace: job.trace } : {}) },
        { jobId: `${runId}-handoff-${token}` },
      );
      return 'handed_off';
    }
    if (error instanceof Suspension) {
      if (!error.released) await leases.release(runId, token);
      return 'suspended';
    }
    if (reason instanceof RunCancelledSignal) {
      await runtime.eventLog.append(runId, [{ type: 'run.cancelled', data: { reason: 'cancel requested' } }], { fence });
      return 'cancelled';
    }
    const failure = reason instanceof StepFailedError ? reason : null;
    await runtime.eventLog.append(
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
