import { ValidationError } from '@runstream/domain';
import { Cron } from 'croner';

/**
 * Cron arithmetic on croner (no dependencies, maintained, 5- or 6-field patterns with optional seconds, IANA
 * timezones through `Intl`, DST-aware). Pure: every function takes the instant it reasons from.
 */

/** The cron as croner reads it in `timezone`; a ValidationError names `cron` or `timezone` when either is bad. */
export function parseCron(cron: string, timezone: string): Cron {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ValidationError([{ field: 'timezone', message: `must be an IANA timezone such as Europe/Paris (got ${JSON.stringify(timezone)})` }]);
  }
  let pattern: Cron;
  try {
    pattern = new Cron(cron, { timezone, paused: true });
  } catch (error) {
    throw new ValidationError([{ field: 'cron', message: `is not a cron expression: ${(error as Error).message}` }]);
  }
  if (pattern.nextRun(new Date(0)) === null) {
    throw new ValidationError([{ field: 'cron', message: 'never fires' }]);
  }
  return pattern;
}

/** The next `count` ticks strictly after `after`. */
export function fireTimesAfter(pattern: Cron, after: Date, count: number): Date[] {
  return pattern.nextRuns(count, after);
}

/**
 * Which ticks to start now for a schedule whose first unstarted tick is `first` (due: at or before `now`). The
 * latest due tick always fires; older ones were missed (the schedule was paused in between or no node ran) and
 * `catchUp` of them fire too, newest first kept, oldest first started. `next` is the first tick after `now`.
 */
export function dueTicks(pattern: Cron, first: Date, now: Date, catchUp: number): { ticks: Date[]; next: Date | null } {
  // previousRuns counts back from `now` (a tick at `now` itself included), so a long outage costs nothing.
  const ticks = pattern
    .previousRuns(catchUp + 1, new Date(now.getTime() + 1))
    .filter((tick) => tick.getTime() >= first.getTime())
    .reverse();
  return { ticks, next: pattern.nextRun(now) };
}

/** The idempotency key of the run a schedule starts for a tick: racing nodes create that run once. */
export function scheduleRunKey(scheduleId: string, tick: Date): string {
  return `schedule:${scheduleId}:${tick.toISOString()}`;
}
