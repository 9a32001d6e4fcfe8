import {
  applyStepEvent,
  backoffDelay,
  childOutcomeSchema,
  childSignalName,
  chunkKey,
  ConcurrencyError,
  defaults,
  LeaseLostError,
  nextUnconsumedSignal,
  parseWith,
  signalNameSchema,
  stepEventKey,
  type Clock,
  type ErrorInfo,
  type EventData,
  type NewEvent,
  type StepHistory,
} from '@runstream/domain';
import type { EventLog } from '@runstream/store';
import { z } from 'zod';
import { StepFailedError, Suspension } from './signals.js';
import type { ExecutionTelemetry } from './telemetry.js';
import {
  ChildRunFailedError,
  NonRetryableError,
  SignalTimeoutError,
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
  /** The last seq the replay read `history` up to. */
  historySeq: number;
  /** Creates a child run (idempotently under `idempotencyKey`); resolves with its id. */
  startChildRun(workflow: string, input: unknown, idempotencyKey: string): Promise<string>;
}

/**
 * The `ctx` a workflow function receives for one execution. Every write goes through the fenced append, so
 * the moment another execution takes the lease over, this one's writes fail with LeaseLostError. Every event it
 * writes is keyed, so the execution may retry an append whose commit it could not confirm (see the executor).
 */
export function createWorkflowContext(deps: ExecutionDeps): WorkflowContext {
  const { runId, token, eventLog, clock, workflow, signal, history } = deps;
  const seenSteps = new Set<string>();
  let emitted = 0;
  let sleeps = 0;
  let waits = 0;
  let children = 0;
  let readUpTo = deps.historySeq;

  const append = (events: NewEvent[], release = false) =>
    eventLog.append(runId, events, { fence: { token, release } });

  /** Folds signals received since the replay read the log; returns the last seq read. */
  async function readNewSignals(): Promise<number> {
    for await (const event of eventLog.readStream(runId, { fromSeq: readUpTo + 1 })) {
      if (event.type === 'signal.received') applyStepEvent(history, event);
      readUpTo = event.seq;
    }
    return readUpTo;
  }

  /** Appends this execution's own signal events and folds them, so a later wait in it sees what this one took. */
  async function appendSignalEvent(event: NewEvent) {
    const result = await append([event]);
    for (const written of result.events) applyStepEvent(history, written);
  }

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

  const context: WorkflowContext = {
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
      await append([{ type: 'step.started', data: { step: name, attempt }, key: stepEventKey('started', name, attempt) }]);
      const startedAt = performance.now();
      const attemptTelemetry = deps.telemetry.stepAttempt(name, attempt);
      try {
        const output = await attemptTelemetry.within(() => runAttempt(name, attempt, fn, options.timeoutMs));
        const recorded = toJson(output);
        await append([
          {
            type: 'step.completed',
            data: { step: name, attempt, durationMs: Math.round(performance.now() - startedAt), output: recorded },
            key: stepEventKey('completed', name, attempt),
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
          await append([
            { type: 'step.failed', data: { step: name, attempt, durationMs, error: info }, key: stepEventKey('failed', name, attempt) },
          ]);
          attemptTelemetry.end('failed', error);
          throw new StepFailedError(name, info);
        }
        const backoff = {
          baseMs: options.backoff?.baseMs ?? defaults.stepBackoff.baseMs,
          maxMs: options.backoff?.maxMs ?? defaults.stepBackoff.maxMs,
        };
        const retryAt = new Date(clock.now().getTime() + backoffDelay(attempt, backoff)).toISOString();
        await append(
          [
            {
              type: 'step.failed',
              data: { step: name, attempt, durationMs, error: info, retryAt },
              key: stepEventKey('failed', name, attempt),
            },
          ],
          true,
        );
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
      await append([{ type: 'run.sleeping', data: { name, until: wakeAt }, key: name }], true);
      throw new Suspension('sleep', true);
    },

    async waitForSignal(signal, options = {}) {
      throwIfAborted();
      parseWith(signalNameSchema, signal, 'signal');
      const { schema, timeoutMs } = options;
      const wait = `wait:${waits++}`;
      const result = (data: unknown) => (schema ? parseWith(schema, data, 'data') : data) as never;
      const recorded = history.waits.get(wait);
      if (recorded && recorded.signal !== signal) {
        throw new NonRetryableError(`${wait} waited for signal ${recorded.signal}, now for ${signal}: the workflow changed`);
      }
      if (recorded?.outcome?.kind === 'consumed') return result(history.signals.get(recorded.outcome.seq)?.data);
      if (recorded?.outcome?.kind === 'timed_out') throw new SignalTimeoutError(signal, timeoutMs);

      // A replayed wait keeps the timeout it was first recorded with.
      const until =
        recorded?.until ??
        (timeoutMs === undefined ? null : new Date(clock.now().getTime() + Math.max(0, timeoutMs)));
      const jsonSchema = schema ? (z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Json) : undefined;
      for (;;) {
        const seenSeq = await readNewSignals();
        const received = nextUnconsumedSignal(history, signal);
        if (received) {
          await appendSignalEvent({
            type: 'signal.consumed',
            data: { wait, signal, seq: received.seq },
            key: `consume:${wait}`,
          });
          return result(received.data);
        }
        if (until && until <= clock.now()) {
          await appendSignalEvent({ type: 'signal.timed_out', data: { wait, signal }, key: `timeout:${wait}` });
          throw new SignalTimeoutError(signal, timeoutMs);
        }
        try {
          // Guarded by the last seq read: a signal appended since then makes this fail, and the loop takes it.
          await eventLog.append(
            runId,
            [
              {
                type: 'run.waiting',
                data: {
                  wait,
                  signal,
                  ...(until ? { until: until.toISOString() } : {}),
                  ...(jsonSchema === undefined ? {} : { schema: jsonSchema }),
                },
              },
            ],
            { fence: { token, release: true }, expectedSeq: seenSeq },
          );
        } catch (error) {
          if (error instanceof ConcurrencyError) continue;
          throw error;
        }
        throw new Suspension('signal', true);
      }
    },

    async startChild(workflow, input) {
      const name = `child:${children++}`;
      const workflowName = typeof workflow === 'string' ? workflow : workflow.name;
      const childRunId = await context.step(name, () => deps.startChildRun(workflowName, input, `${runId}:${name}`));
      return {
        runId: childRunId,
        async result() {
          const outcome = await context.waitForSignal(childSignalName(childRunId), { schema: childOutcomeSchema });
          if (outcome.status !== 'succeeded') throw new ChildRunFailedError(childRunId, outcome.status, outcome.error ?? null);
          return outcome.output as never;
        },
      };
    },
  };
  return context;
}
