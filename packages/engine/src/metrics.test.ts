import { describe, expect, it } from 'vitest';
import { createEngineMetrics, Histogram } from './metrics.js';

describe('Histogram', () => {
  it('counts observations into cumulative buckets per label set, with sum and count', () => {
    const histogram = new Histogram('h_seconds', 'help', [0.1, 1, 10]);
    histogram.observe({ workflow: 'a' }, 0.05);
    histogram.observe({ workflow: 'a' }, 0.1);
    histogram.observe({ workflow: 'a' }, 5);
    histogram.observe({ workflow: 'a' }, 50);
    histogram.observe({ workflow: 'b' }, 2);
    expect(histogram.snapshot()).toEqual({
      name: 'h_seconds',
      help: 'help',
      buckets: [0.1, 1, 10],
      series: [
        { labels: { workflow: 'a' }, cumulativeCounts: [2, 2, 3], sum: 55.15, count: 4 },
        { labels: { workflow: 'b' }, cumulativeCounts: [0, 0, 1], sum: 2, count: 1 },
      ],
    });
  });

  it('treats label sets with the same labels in another order as one series', () => {
    const histogram = new Histogram('h', 'help', [1]);
    histogram.observe({ workflow: 'a', status: 'failed' }, 0.5);
    histogram.observe({ status: 'failed', workflow: 'a' }, 2);
    expect(histogram.snapshot().series).toEqual([
      { labels: { workflow: 'a', status: 'failed' }, cumulativeCounts: [1], sum: 2.5, count: 2 },
    ]);
  });

  it('ignores a value that is not a finite number', () => {
    const histogram = new Histogram('h', 'help', [1]);
    histogram.observe({}, Number.NaN);
    expect(histogram.snapshot().series).toEqual([]);
  });

  it('refuses buckets that are not ascending', () => {
    expect(() => new Histogram('h', 'help', [1, 1])).toThrow(RangeError);
    expect(() => new Histogram('h', 'help', [1, Infinity])).toThrow(RangeError);
  });
});

describe('createEngineMetrics', () => {
  it('gives each engine its own histograms', () => {
    const first = createEngineMetrics();
    const second = createEngineMetrics();
    first.queueWait.observe({ workflow: 'w' }, 0.2);
    expect(first.snapshot().map((h) => [h.name, h.series.length])).toEqual([
      ['runstream_run_duration_seconds', 0],
      ['runstream_step_duration_seconds', 0],
      ['runstream_queue_wait_seconds', 1],
    ]);
    expect(second.snapshot().every((h) => h.series.length === 0)).toBe(true);
  });
});
