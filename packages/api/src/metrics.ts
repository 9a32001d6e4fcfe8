import { runStatuses } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { sql } from 'drizzle-orm';
import type { ApiLogger } from './errors.js';
import { withTimeout, type ApiQueue } from './health.js';

export interface MetricsSources {
  runtime: Pick<Runtime, 'db' | 'clock' | 'bus'>;
  queue: ApiQueue;
  openStreams(kind: 'run' | 'feed'): number;
  logger: ApiLogger;
  timeoutMs: number;
}

type Sample = { labels?: Record<string, string>; value: number };

class Exposition {
  private readonly lines: string[] = [];

  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const { labels, value } of samples) {
      const rendered = labels
        ? `{${Object.entries(labels)
            .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
            .join(',')}}`
        : '';
      this.lines.push(`${name}${rendered} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
  }

  toString(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/**
 * Prometheus text exposition (format 0.0.4). Each source is queried on its own: one that fails is reported by
 * `runstream_metrics_source_up{source=…} 0` and its metrics are left out, the rest still render.
 */
export async function renderMetrics({ runtime, queue, openStreams, logger, timeoutMs }: MetricsSources): Promise<string> {
  const out = new Exposition();
  const up: Sample[] = [];
  const source = async <T>(name: string, read: () => Promise<T>, render: (value: T) => void) => {
    try {
      render(await withTimeout(read(), timeoutMs, `metrics source ${name}`));
      up.push({ labels: { source: name }, value: 1 });
    } catch (error) {
      logger.warn(`[runstream:api] metrics: ${name} failed`, error);
      up.push({ labels: { source: name }, value: 0 });
    }
  };
  const { db } = runtime;

  await source(
    'runs',
    () => db.execute<{ status: string; count: number }>(sql`select status, count(*)::int as count from runs group by status`),
    (rows) => {
      const byStatus = new Map(rows.map((row) => [row.status, Number(row.count)]));
      out.metric(
        'runstream_runs',
        'gauge',
        'Runs by current status.',
        runStatuses.map((status) => ({ labels: { status }, value: byStatus.get(status) ?? 0 })),
      );
    },
  );

  await source(
    'events',
    // The identity sequence behind run_events.position: one read, however large the log (counts rolled-back
    // appends too, so it is an upper bound).
    () =>
      db.execute<{ appended: string | null }>(
        sql`select pg_sequence_last_value(pg_get_serial_sequence('run_events', 'position')::regclass)::text as appended`,
      ),
    ([row]) => {
      out.metric('runstream_events_appended_total', 'counter', 'Events appended to run logs (position sequence).', [
        { value: Number(row?.appended ?? 0) },
      ]);
    },
  );

  await source(
    'outbox',
    () =>
      db.execute<{ pending: number; oldest_age: number | null }>(sql`
        select count(*)::int as pending,
          extract(epoch from (${runtime.clock.now().toISOString()}::timestamptz - min(created_at)))::float8 as oldest_age
        from outbox where published_at is null and failed_at is null`),
    ([row]) => {
      out.metric('runstream_outbox_pending', 'gauge', 'Outbox rows not yet published.', [{ value: Number(row?.pending ?? 0) }]);
      out.metric('runstream_outbox_lag_seconds', 'gauge', 'Age of the oldest unpublished outbox row (0 when none).', [
        { value: Math.max(0, Number(row?.oldest_age ?? 0)) },
      ]);
    },
  );

  await source(
    'queue',
    () => queue.counts(),
    (counts) => {
      out.metric(
        'runstream_queue_jobs',
        'gauge',
        'Jobs in the queue by state.',
        (['waiting', 'delayed', 'active'] as const).map((state) => ({ labels: { state, backend: queue.backend }, value: counts[state] })),
      );
    },
  );

  out.metric('runstream_api_open_streams', 'gauge', 'Open Server-Sent Event streams.', [
    { labels: { kind: 'run' }, value: openStreams('run') },
    { labels: { kind: 'feed' }, value: openStreams('feed') },
  ]);
  out.metric('runstream_bus_listeners', 'gauge', 'Subscriptions on the in-process run event bus.', [
    { value: runtime.bus.listenerCount() },
  ]);
  out.metric('runstream_metrics_source_up', 'gauge', 'Whether a metrics source answered this scrape.', up);
  return out.toString();
}
