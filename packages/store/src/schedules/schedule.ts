import type { ScheduleRow } from '@runstream/db';

/** A cron schedule as stored: each due tick starts one run of `workflow` with `input`. */
export interface Schedule {
  id: string;
  cron: string;
  timezone: string;
  workflow: string;
  input: unknown;
  enabled: boolean;
  /** Missed ticks started after downtime besides the latest due one (0: skip them). */
  catchUp: number;
  source: 'api' | 'code';
  /** The next tick not started yet; null while paused. */
  nextFireAt: Date | null;
  lastFireAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewSchedule = Pick<Schedule, 'id' | 'cron' | 'timezone' | 'workflow' | 'input' | 'enabled' | 'catchUp' | 'source'> & {
  nextFireAt: Date | null;
};

export function toSchedule(row: ScheduleRow): Schedule {
  return row;
}
