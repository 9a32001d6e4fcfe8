/** One label set's observations: counts per bucket (cumulative, as Prometheus exposes them), sum and count. */
export interface HistogramSeries {
  labels: Record<string, string>;
  /** `cumulativeCounts[i]`: observations ≤ `buckets[i]`; the `+Inf` bucket is `count`. */
  cumulativeCounts: number[];
  sum: number;
  count: number;
}

export interface HistogramSnapshot {
  name: string;
  help: string;
  /** Upper bounds, ascending, without `+Inf`. */
  buckets: readonly number[];
  series: HistogramSeries[];
}

/**
 * A Prometheus-style histogram kept in memory by whoever owns it (an engine): no registry, no global. Label sets
 * are few (workflows × outcomes), so each keeps its own counts.
 */
export class Histogram {
  private readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    if (buckets.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]!))) {
      throw new RangeError(`histogram ${name}: buckets must be finite and ascending`);
    }
  }

  observe(labels: Record<string, string>, value: number): void {
    if (!Number.isFinite(value)) return;
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    const bucket = this.buckets.findIndex((bound) => value <= bound);
    if (bucket >= 0) entry.counts[bucket]!++;
    entry.sum += value;
    entry.count++;
  }

  snapshot(): HistogramSnapshot {
    return {
      name: this.name,
      help: this.help,
      buckets: this.buckets,
      series: [...this.series.values()].map(({ labels, counts, sum, count }) => {
        let running = 0;
        return { labels: { ...labels }, cumulativeCounts: counts.map((n) => (running += n)), sum, count };
      }),
    };
  }
}

/** Seconds, from a fast step to a run that sleeps for a day. */
const stepBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const runBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3_600, 21_600, 86_400];
const queueWaitBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600];

/**
 * What an engine observes of the runs it executes, as Prometheus histograms labelled by workflow. Each engine has
 * its own: a node exposes what it ran (sum the nodes in Prometheus).
 */
export interface EngineMetrics {
  /** Created → finished, for runs this engine finished (label `status`: succeeded, failed, cancelled). */
  runDuration: Histogram;
  /** One step attempt (label `outcome`: completed, retrying, failed, aborted). */
  stepDuration: Histogram;
  /** Created → first started, for runs this engine started. */
  queueWait: Histogram;
  snapshot(): HistogramSnapshot[];
}

export function createEngineMetrics(): EngineMetrics {
  const runDuration = new Histogram('runstream_run_duration_seconds', 'Run duration from creation to its end, by workflow and final status.', runBuckets);
  const stepDuration = new Histogram('runstream_step_duration_seconds', 'Step attempt duration, by workflow and outcome.', stepBuckets);
  const queueWait = new Histogram('runstream_queue_wait_seconds', 'Time from a run\'s creation to its first start, by workflow.', queueWaitBuckets);
  return {
    runDuration,
    stepDuration,
    queueWait,
    snapshot: () => [runDuration.snapshot(), stepDuration.snapshot(), queueWait.snapshot()],
  };
}
