import {
  context,
  createTraceState,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TracerProvider,
} from '@opentelemetry/api';
import type { Clock, RunEvent, TraceContext } from '@runstream/domain';
import type { Run } from '@runstream/store';
import type { EngineMetrics } from './metrics.js';

/** How one execution of a run ended on this worker. */
export type ExecutionOutcome = 'succeeded' | 'failed' | 'cancelled' | 'suspended' | 'handed_off' | 'lease_lost' | 'error';
/** How one step attempt ended: done, failed with another attempt scheduled, failed for good, or cut off. */
export type StepOutcome = 'completed' | 'retrying' | 'failed' | 'aborted';

const finalStatuses: ReadonlySet<ExecutionOutcome> = new Set(['succeeded', 'failed', 'cancelled']);

/** A step attempt's span and timing; `end` counts once, later calls do nothing. */
export interface StepAttemptTelemetry {
  /** Runs the attempt's function with its span active, so spans the step's own code makes nest under it. */
  within<T>(fn: () => Promise<T>): Promise<T>;
  end(outcome: StepOutcome, error?: unknown): void;
}

/** One execution of a run: its span, and the metrics it moves. `end` counts once, later calls do nothing. */
export interface ExecutionTelemetry {
  /** `run.started` is recorded: the first start of a run gives its queue wait. */
  started(): void;
  /** Runs the workflow function with the execution's span active. */
  within<T>(fn: () => Promise<T>): Promise<T>;
  stepAttempt(step: string, attempt: number): StepAttemptTelemetry;
  end(outcome: ExecutionOutcome, error?: unknown): void;
}

export interface EngineTelemetryConfig {
  /** Where spans go; none: no spans are made and no trace context is read. */
  tracerProvider?: TracerProvider;
  metrics: EngineMetrics;
  clock: Clock;
}

export type EngineTelemetry = ReturnType<typeof createEngineTelemetry>;

/** The trace context recorded with a run: its `run.created` event's, if the creating request sent one. */
export function createdTraceContext(events: readonly RunEvent[]): TraceContext | undefined {
  const created = events.find((event) => event.type === 'run.created');
  return created?.type === 'run.created' ? created.data.trace : undefined;
}

/** A context whose (remote) parent span is the one a W3C traceparent names. */
function parentContext(parent: TraceContext | undefined): Context {
  if (!parent) return ROOT_CONTEXT;
  const [, traceId, spanId, flags] = parent.traceparent.split('-') as [string, string, string, string];
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16),
    isRemote: true,
    ...(parent.tracestate ? { traceState: createTraceState(parent.tracestate) } : {}),
  });
}

function errorStatus(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
  if (error instanceof Error) span.recordException(error);
}

const seconds = (ms: number) => ms / 1_000;

/**
 * Spans (when a tracer provider is given) and histograms for what an engine executes: a span per execution of a
 * run, parented by the trace context the run was created with, and a child span per step attempt.
 */
export function createEngineTelemetry({ tracerProvider, metrics, clock }: EngineTelemetryConfig) {
  const tracer = tracerProvider?.getTracer('@runstream/engine');

  function startExecution(run: Run, attempt: number, parent: TraceContext | undefined): ExecutionTelemetry {
    const { workflow } = run;
    const runAttributes: Attributes = {
      'runstream.run.id': run.id,
      'runstream.workflow.name': workflow,
      ...(run.workflowVersion === null ? {} : { 'runstream.workflow.version': run.workflowVersion }),
    };
    const span = tracer?.startSpan(
      'runstream.run',
      { kind: SpanKind.CONSUMER, attributes: { ...runAttributes, 'runstream.run.attempt': attempt } },
      parentContext(parent),
    );
    const spanContext = span ? trace.setSpan(ROOT_CONTEXT, span) : undefined;
    let ended = false;

    return {
      started() {
        if (run.startedAt === null) metrics.queueWait.observe({ workflow }, seconds(clock.now().getTime() - run.createdAt.getTime()));
      },
      within: (fn) => (spanContext ? context.with(spanContext, fn) : fn()),
      stepAttempt(step, stepAttempt) {
        const began = performance.now();
        const stepSpan = tracer?.startSpan(
          'runstream.step',
          { attributes: { ...runAttributes, 'runstream.step.name': step, 'runstream.step.attempt': stepAttempt } },
          spanContext,
        );
        const stepContext = stepSpan && spanContext ? trace.setSpan(spanContext, stepSpan) : undefined;
        let stepEnded = false;
        return {
          within: (fn) => (stepContext ? context.with(stepContext, fn) : fn()),
          end(outcome, error) {
            if (stepEnded) return;
            stepEnded = true;
            metrics.stepDuration.observe({ workflow, outcome }, seconds(performance.now() - began));
            if (!stepSpan) return;
            stepSpan.setAttribute('runstream.step.outcome', outcome);
            if (outcome === 'retrying' || outcome === 'failed') errorStatus(stepSpan, error);
            stepSpan.end();
          },
        };
      },
      end(outcome, error) {
        if (ended) return;
        ended = true;
        if (finalStatuses.has(outcome)) {
          metrics.runDuration.observe({ workflow, status: outcome }, seconds(clock.now().getTime() - run.createdAt.getTime()));
        }
        if (!span) return;
        span.setAttribute('runstream.run.outcome', outcome);
        if (outcome === 'failed' || outcome === 'error') errorStatus(span, error);
        span.end();
      },
    };
  }

  return {
    /** Whether spans are made (a tracer provider was given): only then is a run's trace context worth reading. */
    tracing: tracer !== undefined,
    startExecution,
  };
}
