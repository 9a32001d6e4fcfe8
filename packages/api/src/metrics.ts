import { runStatuses } from '@runstream/domain';
import type { Engine, HistogramSnapshot } from '@runstream/engine';
import type { Runtime } from '@runstream/runtime';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { createAuthenticator, requestCredential, unauthorizedMessages, type ApiAuthConfig, type Authenticator, type Credential } from './auth.js';
import { errorBody, type ApiLogger } from './errors.js';
import { withTimeout, type ApiQueue } from './health.js';
import { send, type Route } from './http-routing.js';

export interface MetricsSources {
  runtime: Pick<Runtime, 'store' | 'bus'>;
  queue: ApiQueue;
  openStreams(kind: 'run' | 'feed'): number;
  /** What this node's engine observed (run and step durations, queue wait). */
  histograms: HistogramSnapshot[];
  logger: ApiLogger;
  timeoutMs: number;
}

type Sample = { labels?: Record<string, string>; value: number };

function renderLabels(labels: Record<string, string> | undefined): string {
  return labels && Object.keys(labels).length > 0
    ? `{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',')}}`
    : '';
}

class Exposition {
  private readonly lines: string[] = [];

  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const { labels, value } of samples) {
      this.lines.push(`${name}${renderLabels(labels)} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
  }

  /** A histogram as Prometheus reads one: cumulative `_bucket`s by `le` (ending with `+Inf`), `_sum`, `_count`. */
  histogram({ name, help, buckets, series }: HistogramSnapshot): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const { labels, cumulativeCounts, sum, count } of series) {
      buckets.forEach((bound, i) => {
        this.lines.push(`${name}_bucket${renderLabels({ ...labels, le: String(bound) })} ${cumulativeCounts[i]}`);
      });
      this.lines.push(`${name}_bucket${renderLabels({ ...labels, le: '+Inf' })} ${count}`);
      this.lines.push(`${name}_sum${renderLabels(labels)} ${sum}`, `${name}_count${renderLabels(labels)} ${count}`);
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
export async function renderMetrics({ runtime, queue, openStreams, histograms, logger, timeoutMs }: MetricsSources): Promise<string> {
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
  const { store } = runtime;

  await source(
    'runs',
    () => store.metrics.runsByStatus(),
    (byStatus) => {
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
    () => store.metrics.eventsAppended(),
    (appended) => {
      out.metric('runstream_events_appended_total', 'counter', 'Events appended to run logs (position sequence).', [
        { value: appended },
      ]);
    },
  );

  await source(
    'outbox',
    () => store.metrics.outboxBacklog(),
    (backlog) => {
      out.metric('runstream_outbox_pending', 'gauge', 'Outbox rows not yet published.', [{ value: backlog.pending }]);
      out.metric('runstream_outbox_lag_seconds', 'gauge', 'Age of the oldest unpublished outbox row (0 when none).', [
        { value: backlog.oldestAgeSeconds },
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
  for (const histogram of histograms) out.histogram(histogram);
  out.metric('runstream_metrics_source_up', 'gauge', 'Whether a metrics source answered this scrape.', up);
  return out.toString();
}

/** `GET /metrics`: open when auth is off, else for a full token in the header (a read token gets 403). */
export function metricsRoute(auth: Authenticator, sources: () => MetricsSources): Route<{ credential: Credential | undefined }> {
  return {
    methods: ['GET'],
    path: '/metrics',
    handle: async ({ res, credential }) => {
      const result = auth.authenticate(credential);
      if (!result.ok) return send(res, 401, errorBody('UNAUTHORIZED', 401, unauthorizedMessages[result.reason]));
      if (result.principal.kind !== 'full') return send(res, 403, errorBody('FORBIDDEN', 403, 'a read token does not grant metrics'));
      send(res, 200, await renderMetrics(sources()), 'text/plain; version=0.0.4; charset=utf-8');
    },
  };
}

export interface MetricsHandlerConfig {
  runtime: MetricsSources['runtime'];
  queue: ApiQueue;
  engine: Pick<Engine, 'metrics'>;
  /** The API tokens (`readTokenSecret` may be omitted: a node without the API mints no read tokens). */
  auth: Omit<ApiAuthConfig, 'readTokenSecret'> & { readTokenSecret?: string };
  logger?: ApiLogger;
  timeoutMs?: number;
}

/**
 * `/metrics` alone, for a process that serves no API (a worker node, whose engine's histograms are only there):
 * answers it and returns true, or returns false and leaves any other request to the caller.
 */
export function createMetricsHandler(config: MetricsHandlerConfig): (req: IncomingMessage, res: ServerResponse) => boolean {
  const logger = config.logger ?? console;
  const auth = createAuthenticator({ ...config.auth, readTokenSecret: config.auth.readTokenSecret ?? randomBytes(32).toString('hex') });
  const route = metricsRoute(auth, () => ({
    runtime: config.runtime,
    queue: config.queue,
    openStreams: () => 0,
    histograms: config.engine.metrics.snapshot(),
    logger,
    timeoutMs: config.timeoutMs ?? 2_000,
  }));
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://runstream.invalid');
    if (req.method !== 'GET' || url.pathname !== route.path) return false;
    Promise.resolve(route.handle({ req, res, url, params: {}, credential: requestCredential(req.headers, url) })).catch((error: unknown) => {
      logger.error('[runstream:api] metrics endpoint failed', error);
      res.destroy();
    });
    return true;
  };
}
