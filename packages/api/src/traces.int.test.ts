import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { testBackends, waitForStatus } from '@runstream/testkit';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, until, type TestApi } from './testing/index.js';

// OpenTelemetry spans and Prometheus histograms, through the real HTTP API and a worker on each queue backend:
// the engine takes its tracer from the provider it is given (here an SDK provider exporting to memory).

interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the sample lines; our label values hold no `,` or `"`). */
function parseExposition(text: string): MetricSample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = line.match(/^([a-z_]+)(?:\{(.*)\})? (\S+)$/);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries(
        (match[2] ? match[2].split(',') : []).map((pair) => {
          const [key, quoted] = pair.split('=') as [string, string];
          return [key, quoted.slice(1, -1)];
        }),
      );
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

describe.each(testBackends)('traces and metrics on the %s queue', (backend) => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi({ backend, engine: { tracerProvider } });
  });
  afterAll(async () => {
    await t?.close();
    await tracerProvider.shutdown();
  });

  async function createRun(body: unknown, headers: Record<string, string> = {}): Promise<string> {
    const response = await fetch(`${t.base}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { run: { id: string } }).run.id;
  }

  const createdEvent = async (runId: string) => {
    const body = (await (await fetch(`${t.base}/api/runs/${runId}/events?limit=1`)).json()) as { events: { type: string; data: object }[] };
    return body.events[0]!;
  };

  const spansOf = (runId: string, name: string): ReadableSpan[] =>
    exporter
      .getFinishedSpans()
      .filter((span) => span.name === name && span.attributes['runstream.run.id'] === runId)
      .sort((a, b) => Number(a.attributes['runstream.run.attempt'] ?? 0) - Number(b.attributes['runstream.run.attempt'] ?? 0));

  const runFinished = (runId: string) => () =>
    spansOf(runId, 'runstream.run').some((span) => span.attributes['runstream.run.outcome'] === 'succeeded');

  it("puts the run's executions and every step attempt under the creating request's trace", async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const traceparent = `00-${traceId}-${callerSpanId}-01`;
    const tracestate = 'rojo=00f067aa0ba902b7';
    // One failed attempt, then a retry: the run suspends and a delayed job wakes a second execution.
    const runId = await createRun({ workflow: 'demo.flaky', input: { failures: 1, backoffMs: 1 } }, { traceparent, tracestate });

    expect(await createdEvent(runId)).toMatchObject({ type: 'run.created', data: { trace: { traceparent, tracestate } } });

    await waitForStatus(t.runtime, runId, 'succeeded');
    await until(runFinished(runId), 'the span of the execution that finished the run');
    const version = t.engine.workflowList().find((workflow) => workflow.name === 'demo.flaky')!.version;

    const runSpans = spansOf(runId, 'runstream.run');
    expect(runSpans.map((span) => [span.attributes['runstream.run.attempt'], span.attributes['runstream.run.outcome']])).toEqual([
      [1, 'suspended'],
      [2, 'succeeded'],
    ]);
    for (const span of runSpans) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.spanContext().traceId).toBe(traceId);
      expect(span.parentSpanContext).toMatchObject({ traceId, spanId: callerSpanId, isRemote: true });
      expect(span.spanContext().traceState?.serialize()).toBe(tracestate);
      expect(span.attributes).toMatchObject({
        'runstream.run.id': runId,
        'runstream.workflow.name': 'demo.flaky',
        'runstream.workflow.version': version,
      });
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }

    const stepSpans = spansOf(runId, 'runstream.step').sort(
      (a, b) => Number(a.attributes['runstream.step.attempt']) - Number(b.attributes['runstream.step.attempt']),
    );
    expect(stepSpans).toHaveLength(2);
    stepSpans.forEach((span, i) => {
      expect(span.spanContext().traceId).toBe(traceId);
      // Each attempt sits under the execution that ran it.
      expect(span.parentSpanContext?.spanId).toBe(runSpans[i]!.spanContext().spanId);
      expect(span.attributes).toMatchObject({
        'runstream.run.id': runId,
        'runstream.workflow.name': 'demo.flaky',
        'runstream.workflow.version': version,
        'runstream.step.name': 'unreliable',
        'runstream.step.attempt': i + 1,
      });
    });
    expect(stepSpans[0]!.attributes['runstream.step.outcome']).toBe('retrying');
    expect(stepSpans[0]!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'attempt 1 of 2 fails on purpose' });
    expect(stepSpans[0]!.events.map((event) => event.name)).toEqual(['exception']);
    expect(stepSpans[1]!.attributes['runstream.step.outcome']).toBe('completed');
    expect(stepSpans[1]!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('starts a trace of its own for a run created without a valid traceparent, and records none', async () => {
    const invalid = `00-${'0'.repeat(32)}-${randomBytes(8).toString('hex')}-01`;
    const runId = await createRun({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } }, { traceparent: invalid });
    expect((await createdEvent(runId)).data).not.toHaveProperty('trace');

    await waitForStatus(t.runtime, runId, 'succeeded');
    await until(runFinished(runId), 'the span of the execution that finished the run');
    const [runSpan] = spansOf(runId, 'runstream.run');
    expect(runSpan!.parentSpanContext).toBeUndefined();
    const [stepSpan] = spansOf(runId, 'runstream.step');
    expect(stepSpan!.spanContext().traceId).toBe(runSpan!.spanContext().traceId);
    expect(stepSpan!.parentSpanContext?.spanId).toBe(runSpan!.spanContext().spanId);
  });

  it('moves the run duration, step duration and queue wait histograms in /metrics', async () => {
    const scrape = async () => parseExposition(await (await fetch(`${t.base}/metrics`)).text());
    const value = (samples: MetricSample[], name: string, labels: Record<string, string>) =>
      samples.find((sample) => sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v))?.value ?? 0;
    const workflow = 'demo.countdown';
    const runLabels = { workflow, status: 'succeeded' };
    const stepLabels = { workflow, outcome: 'completed' };

    const before = await scrape();
    const runId = await createRun({ workflow, input: { count: 2, intervalMs: 0 } });
    await waitForStatus(t.runtime, runId, 'succeeded');
    let after = before;
    await until(async () => {
      after = await scrape();
      return value(after, 'runstream_run_duration_seconds_count', runLabels) > value(before, 'runstream_run_duration_seconds_count', runLabels);
    }, 'the run duration histogram to count the run');

    const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
    expect(delta('runstream_run_duration_seconds_count', runLabels)).toBe(1);
    expect(delta('runstream_run_duration_seconds_bucket', { ...runLabels, le: '+Inf' })).toBe(1);
    expect(delta('runstream_run_duration_seconds_sum', runLabels)).toBeGreaterThan(0);
    expect(delta('runstream_step_duration_seconds_count', stepLabels)).toBe(2);
    expect(delta('runstream_step_duration_seconds_bucket', { ...stepLabels, le: '+Inf' })).toBe(2);
    expect(delta('runstream_queue_wait_seconds_count', { workflow })).toBe(1);
    expect(delta('runstream_queue_wait_seconds_sum', { workflow })).toBeGreaterThan(0);

    // Buckets are cumulative: never fewer at a larger bound, and the last is the count.
    for (const [name, labels] of [
      ['runstream_run_duration_seconds', runLabels],
      ['runstream_step_duration_seconds', stepLabels],
      ['runstream_queue_wait_seconds', { workflow }],
    ] as const) {
      const buckets = after.filter(
        (sample) => sample.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => sample.labels[k] === v),
      );
      expect(buckets.at(-1)!.labels.le).toBe('+Inf');
      expect(buckets.map((sample) => sample.value)).toEqual([...buckets.map((sample) => sample.value)].sort((a, b) => a - b));
      expect(buckets.at(-1)!.value).toBe(value(after, `${name}_count`, labels));
    }
    const text = await (await fetch(`${t.base}/metrics`)).text();
    expect(text).toContain('# TYPE runstream_run_duration_seconds histogram');
  });
});
