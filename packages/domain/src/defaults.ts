/**
 * Defaults written once: the server's configuration falls back to these, and the runtime and engine use them
 * when built without a value (tests, scripts, embedding applications).
 */
export const defaults = {
  /** Executions one worker runs at once. */
  workerConcurrency: 8,
  /** How long a lease is held without renewal before another worker may take the run over. */
  leaseMs: 30_000,
  /** PostgreSQL connections per runtime. */
  databasePoolSize: 10,
  /** Between sweeps for expired leases, due wake-ups and stale instances. */
  sweepIntervalMs: 5_000,
  /** An instance whose heartbeat is older than this is presumed dead. */
  instanceStaleMs: 30_000,
  /** How long in-flight executions may finish at shutdown before they are handed off. */
  shutdownGraceMs: 10_000,
  /** The API's HTTP server: a request's headers must arrive within this. */
  httpHeadersTimeoutMs: 10_000,
  /** The API's HTTP server: a whole request, body included, must arrive within this (responses are not cut). */
  httpRequestTimeoutMs: 30_000,
  /** The API's HTTP server: connections held at once; it closes any beyond, unanswered. */
  httpMaxConnections: 2_000,
  /**
   * Longest a scheduler sleeps between looks at the schedules table: it wakes at the next due tick it knows of,
   * and this bounds how late it notices a schedule created on another node.
   */
  schedulePollMs: 5_000,
  /** Step retry backoff when a step sets none. */
  stepBackoff: { baseMs: 1_000, maxMs: 60_000 },
} as const;
