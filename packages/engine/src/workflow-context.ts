import {
  backoffDelay,
  chunkKey,
  defaults,
  LeaseLostError,
  type Clock,
  type ErrorInfo,
  type EventData,
  type NewEvent,
  type StepHistory,
} from '@runstream/domain';
import type { EventLog } from '@runstream/store';
import { StepFailedError, Suspension } from './signals.js';
import type { ExecutionTelemetry } from './telemetry.js';
import {
  NonRetryableError,
  StepTimeoutError,
  type StepContext,
  type StepOptions,
  type WorkflowContext,
  type WorkflowDefinition,
} from './workflow.js';

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof StepFailedError) return error.info;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(error.stack ? { stack: error.stack.slice(0, 8_000) } : {}),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: String(error) };
}

type Json = EventData<'run.output'>['data'];

/** JSON-safe copy of a step's or workflow's result (`undefined` becomes null). */
export function toJson(value: unknown): Json {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json);
}

export interface ExecutionDeps {
  runId: string;
  token: number;
  eventLog: EventLog;
  clock: Clock;
  workflow: WorkflowDefinition;
  signal: AbortSignal;
  /** True once the engine is shutting down: no new step starts, the run is handed off instead. */
  draining(): boolean;
  history: StepHistory;
  /** The execution's span and metrics: each step attempt gets a span and a duration. */
  telemetry: ExecutionTelemetry;
}

/**
 * The `ctx` a workflow function receives for one execution. Every write goes through the fenced append, so
 * the moment another execution takes the lease over, this one's writes fail with LeaseLostError.
 */
export function createWorkflowContext(deps: ExecutionDeps): WorkflowContext {
  const { runId, token, eventLog, clock, workflow, signal, history } = deps;
  const seenSteps = new Set<string>();
  let emitted = 0;
  let sleeps = 0;

  const append = (events: NewEvent[], release = false) =>
    eventLog.append(runId, events, { fence: { token, release } });

  function throwIfAborted() {
    if (signal.aborted) throw signal.reason;
  }

  async function runAttempt<T>(
    name: string,
    attempt: number,
    fn: (step: StepContext) => Promise<T>,
    timeoutMs: number | undefined,
  ): Promise<T> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let chunks = 0;
    const stepContext: StepContext = {
      signal: controller.signal,
      attempt,
      async chunk(data) {
        const index = chunks++;
        await append([
          { type: 'step.chunk', data: { step: name, attempt, index, data: toJson(data) }, key: chunkKey(name, attempt, index) },
        ]);
      },
    };
    try {
      const work = fn(stepContext);
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
        if (timeoutMs !== undefined) {
          timer = setTimeout(() => controller.abort(new StepTimeoutError(name, timeoutMs)), timeoutMs);
        }
      });
      // A step that ignores its signal is abandoned at the abort; its late result is discarded.
      work.catch(() => {});
      return await Promise.race([work, aborted]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!controller.signal.aborted) controller.abort(new Error('step finished'));
    }
  }

  return {
    runId,
    signal,

    async step<T>(name: string, fn: (step: StepContext) => Promise<T>, options: StepOptions = {}): Promise<T> {
      if (seenSteps.has(name)) throw new NonRetryableError(`step name ${JSON.stringify(name)} is used twice in this run`);
      seenSteps.add(name);
      const record = history.steps.get(name);
      if (record?.status === 'completed') return record.output as T;
      throwIfAborted();
      if (record?.retryAt && record.retryAt > clock.now()) throw new Suspension('retry', false);
      if (deps.draining()) throw new Suspension('handoff', false);

      const attempt = (record?.attempt ?? 0) + 1;
      const usedInBudget = (record?.attemptsInBudget ?? 0) + 1;
      const retries = options.retries ?? workflow.retries ?? 0;
      await append([{ type: 'step.started', data: { step: name, attempt } }]);
      const startedAt = performance.now();
      const attemptTelemetry = deps.telemetry.stepAttempt(name, attempt);
      try {
        const output = await attemptTelemetry.within(() => runAttempt(name, attempt, fn, options.timeoutMs));
        const recorded = toJson(output);
        await append([
          {
            type: 'step.completed',
            data: { step: name, attempt, durationMs: Math.round(performance.now() - startedAt), output: recorded },
          },
        ]);
        attemptTelemetry.end('completed');
        return recorded as T;
      } catch (error) {
        if (error instanceof LeaseLostError || signal.aborted) throw signal.aborted ? signal.reason : error;
        const durationMs = Math.round(performance.now() - startedAt);
        const info = errorInfo(error);
        const retryable = !(error instanceof NonRetryableError) && usedInBudget <= retries;
        if (!retryable) {
          await append([{ type: 'step.failed', data: { step: name, attempt, durationMs, error: info } }]);
          attemptTelemetry.end('failed', error);
          throw new StepFailedError(name, info);
        }
        const backoff = {
          baseMs: options.backoff?.baseMs ?? defaults.stepBackoff.baseMs,
          maxMs: options.backoff?.maxMs ?? defaults.stepBackoff.maxMs,
        };
        const retryAt = new Date(clock.now().getTime() + backoffDelay(attempt, backoff)).toISOString();
        await append([{ type: 'step.failed', data: { step: name, attempt, durationMs, error: info, retryAt } }], true);
        attemptTelemetry.end('retrying', error);
        throw new Suspension('retry', true);
      } finally {
        // Any other way out (lease lost, cancel, shutdown, or its outcome not recorded) cut the attempt off.
        attemptTelemetry.end('aborted');
      }
    },

    async emit(data) {
      throwIfAborted();
      const index = emitted++;
      await append([{ type: 'run.output', data: { data: toJson(data) }, key: `emit:${index}` }]);
    },

    async sleep(ms) {
      throwIfAborted();
      const name = `sleep:${sleeps++}`;
      const until = history.sleeps.get(name);
      if (until && until <= clock.now()) return;
      if (until) throw new Suspension('sleep', false);
      const wakeAt = new Date(clock.now().getTime() + Math.max(0, ms)).toISOString();
      await append([{ type: 'run.sleeping', data: { name, until: wakeAt } }], true);
      throw new Suspension('sleep', true);
    },
  };
}
