import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ManualClock } from '@runstream/domain';
import type { Run } from '@runstream/store';
import { describe, expect, it } from 'vitest';
import { createEngineMetrics } from './metrics.js';
import { createEngineTelemetry } from './telemetry.js';

const createdAt = new Date('2026-01-01T00:00:00.000Z');
const run: Run = {
  id: '0190d5c4-0000-7000-8000-000000000001',
  workflow: 'orders.ship',
  workflowVersion: 'v7',
  input: {},
  status: 'queued',
  idempotencyKey: null,
  parentRunId: null,
  after: [],
  concurrencyKey: null,
  waitingReason: null,
  waiting: null,
  lastSeq: 1,
  attempts: 0,
  retries: 0,
  cancelRequested: false,
  output: null,
  error: null,
  createdAt,
  updatedAt: createdAt,
  startedAt: null,
  finishedAt: null,
};
const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function setUp() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const metrics = createEngineMetrics();
  const clock = new ManualClock(createdAt);
  return { exporter, metrics, clock, telemetry: createEngineTelemetry({ tracerProvider, metrics, clock }) };
}

describe('engine telemetry', () => {
  it('marks a failed run and its failed step with error status, and counts the run by its final status', () => {
    const { exporter, metrics, clock, telemetry } = setUp();
    clock.advance(1_500);
    const execution = telemetry.startExecution(run, 1, { traceparent });
    execution.started();
    const step = execution.stepAttempt('charge', 1);
    step.end('failed', new TypeError('card declined'));
    step.end('completed');
    clock.advance(500);
    execution.end('failed', new Error('step charge failed'));
    execution.end('succeeded');

    const [stepSpan, runSpan] = exporter.getFinishedSpans();
    expect(stepSpan).toMatchObject({
      name: 'runstream.step',
      status: { code: SpanStatusCode.ERROR, message: 'card declined' },
      attributes: { 'runstream.step.outcome': 'failed', 'runstream.step.name': 'charge', 'runstream.workflow.version': 'v7' },
    });
    expect(stepSpan!.events[0]!.attributes).toMatchObject({ 'exception.type': 'TypeError', 'exception.message': 'card declined' });
    expect(runSpan).toMatchObject({
      name: 'runstream.run',
      status: { code: SpanStatusCode.ERROR, message: 'step charge failed' },
      attributes: { 'runstream.run.outcome': 'failed', 'runstream.run.attempt': 1 },
    });
    expect(exporter.getFinishedSpans()).toHaveLength(2);

    const [runDuration, stepDuration, queueWait] = metrics.snapshot();
    expect(runDuration!.series).toEqual([
      expect.objectContaining({ labels: { workflow: 'orders.ship', status: 'failed' }, sum: 2, count: 1 }),
    ]);
    expect(stepDuration!.series).toEqual([expect.objectContaining({ labels: { workflow: 'orders.ship', outcome: 'failed' }, count: 1 })]);
    expect(queueWait!.series).toEqual([expect.objectContaining({ labels: { workflow: 'orders.ship' }, sum: 1.5, count: 1 })]);
  });

  it('leaves a suspended or handed-off execution out of the run duration, and a later start out of the queue wait', () => {
    const { exporter, metrics, telemetry } = setUp();
    const first = telemetry.startExecution(run, 1, undefined);
    first.end('suspended');
    const second = telemetry.startExecution({ ...run, attempts: 1, startedAt: createdAt }, 2, undefined);
    second.started();
    second.end('handed_off');
    expect(exporter.getFinishedSpans().map((span) => [span.attributes['runstream.run.outcome'], span.status.code])).toEqual([
      ['suspended', SpanStatusCode.UNSET],
      ['handed_off', SpanStatusCode.UNSET],
    ]);
    expect(metrics.snapshot().map((histogram) => histogram.series.length)).toEqual([0, 0, 0]);
  });

  it('makes no spans without a tracer provider, and still moves the histograms', () => {
    const metrics = createEngineMetrics();
    const telemetry = createEngineTelemetry({ metrics, clock: new ManualClock(createdAt) });
    expect(telemetry.tracing).toBe(false);
    const execution = telemetry.startExecution(run, 1, { traceparent });
    const step = execution.stepAttempt('charge', 1);
    step.end('completed');
    execution.end('succeeded');
    expect(metrics.snapshot().map((histogram) => histogram.series.length)).toEqual([1, 1, 0]);
  });
});
