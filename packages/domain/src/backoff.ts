export interface BackoffSchedule {
  /** The first delay's ceiling. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/** The capped exponential ceiling before the attempt after `attempt` (1-based; lower counts as 1) failed. */
export function backoffCeiling(attempt: number, { baseMs, maxMs, factor = 2 }: BackoffSchedule): number {
  return Math.min(maxMs, baseMs * factor ** Math.max(0, attempt - 1));
}

/**
 * Capped exponential backoff with "equal jitter": the delay is drawn uniformly from [ceiling/2, ceiling], so
 * retries spread out yet never come sooner than half the ceiling (full jitter would draw from [0, ceiling]).
 */
export function backoffDelay(attempt: number, schedule: BackoffSchedule): number {
  const ceiling = backoffCeiling(attempt, schedule);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
