import {
  IdempotencyKeyReusedError,
  parseWith,
  storableJson,
  storableText,
  ScheduleExistsError,
  ScheduleNotFoundError,
  ValidationError,
  type Clock,
} from '@runstream/domain';
import type { Schedule, Store } from '@runstream/store';
import { z } from 'zod';
import { dueTicks, fireTimesAfter, parseCron, scheduleRunKey } from './cron.js';
import type { WorkflowRegistry } from './registry.js';

/** After downtime (or a pause), `skip` starts only the latest due tick; a number also starts that many missed ones. */
export type CatchUpPolicy = 'skip' | number;

export interface ScheduleSpec {
  /** The schedule's name: `[a-zA-Z0-9_.:-]{1,200}`. */
  id: string;
  /** Five fields, or six with seconds first (`*\/10 * * * * *`). */
  cron: string;
  /** IANA timezone the cron is read in. Default `UTC`. */
  timezone?: string;
  workflow: string;
  input?: unknown;
  /** Default `skip`. */
  catchUp?: CatchUpPolicy;
  /** Default true. */
  enabled?: boolean;
}

/** A schedule declared next to the workflows; `createEngine({ schedules })` upserts it when the worker starts. */
export type ScheduleDefinition = Omit<ScheduleSpec, 'enabled'>;

/** A schedule as the API shows it: its catch-up policy, and its next 5 ticks (none while paused). */
export interface ScheduleView extends Omit<Schedule, 'catchUp'> {
  catchUp: CatchUpPolicy;
  nextFireTimes: Date[];
}

const maxCatchUp = 1_000;

export const scheduleSpecSchema = z.object({
  id: storableText().regex(/^[a-zA-Z0-9_.:-]{1,200}$/, 'must match [a-zA-Z0-9_.:-]{1,200}'),
  cron: storableText().min(1).max(200),
  timezone: storableText().min(1).max(100).default('UTC'),
  workflow: storableText().min(1).max(200),
  input: storableJson().optional(),
  catchUp: z.union([z.literal('skip'), z.number().int().min(0).max(maxCatchUp)]).default('skip'),
  enabled: z.boolean().default(true),
});

/** Checks a schedule (a ValidationError names the field: `cron`, `timezone`, `input.<path>`, …) without a registry. */
export function defineSchedule(definition: ScheduleDefinition): ScheduleDefinition {
  const spec = parseWith(scheduleSpecSchema, definition);
  parseCron(spec.cron, spec.timezone);
  return definition;
}

function catchUpCount(policy: CatchUpPolicy): number {
  return policy === 'skip' ? 0 : policy;
}

export interface StartScheduledRun {
  (run: { workflow: string; input: unknown; idempotencyKey: string }): Promise<{ created: boolean }>;
}

export interface SchedulesConfig {
  store: Store;
  clock: Clock;
  workflows: WorkflowRegistry;
  startRun: StartScheduledRun;
  pollMs: number;
  onError(error: unknown, where: string): void;
}

/**
 * The schedule operations and this engine instance's scheduler loop. The loop claims due schedules (FOR UPDATE
 * SKIP LOCKED) of the workflows this instance knows, starts each due tick's run through `startRun` with the key
 * `schedule:<id>:<tick ISO>`, and advances `next_fire_at` in the same transaction; any number of nodes can run
 * it, and a node dying mid-pass only makes the next claimer create the same runs again, which the key turns into
 * no-ops. It sleeps until the next due tick it knows of, at most `pollMs`.
 */
export function createSchedules(config: SchedulesConfig) {
  const { store, clock, workflows, pollMs, onError } = config;

  /** Validates a spec: cron and timezone that read, then against the registry: known workflow, input that parses. */
  function check(input: ScheduleSpec) {
    const spec = parseWith(scheduleSpecSchema, input);
    const pattern = parseCron(spec.cron, spec.timezone);
    workflows.require(spec.workflow);
    workflows.parseInput(spec.workflow, spec.input);
    return { spec, pattern };
  }

  function present(schedule: Schedule): ScheduleView {
    const nextFireTimes =
      schedule.enabled && schedule.nextFireAt
        ? [schedule.nextFireAt, ...fireTimesAfter(parseCron(schedule.cron, schedule.timezone), schedule.nextFireAt, 4)]
        : [];
    return { ...schedule, catchUp: schedule.catchUp === 0 ? 'skip' : schedule.catchUp, nextFireTimes };
  }

  async function requireSchedule(id: string): Promise<Schedule> {
    const schedule = await store.schedules.get(id);
    if (!schedule) throw new ScheduleNotFoundError(id);
    return schedule;
  }

  function newSchedule(input: ScheduleSpec, source: 'api' | 'code') {
    const { spec, pattern } = check(input);
    return {
      id: spec.id,
      cron: spec.cron,
      timezone: spec.timezone,
      workflow: spec.workflow,
      input: spec.input ?? null,
      enabled: spec.enabled,
      catchUp: catchUpCount(spec.catchUp),
      source,
      nextFireAt: spec.enabled ? pattern.nextRun(clock.now()) : null,
    };
  }

  let timer: NodeJS.Timeout | null = null;
  let pass: Promise<void> = Promise.resolve();
  let running = false;

  /** One pass: fires every due schedule this instance can (tests call it instead of waiting for the timer). */
  async function fireDue(): Promise<number> {
    const now = clock.now();
    let started = 0;
    const known = workflows.names();
    for (;;) {
      const claimed = await store.schedules.claimDue({ now, workflows: known, limit: 20 }, async (schedule) => {
        const pattern = parseCron(schedule.cron, schedule.timezone);
        const { ticks, next } = dueTicks(pattern, schedule.nextFireAt!, now, schedule.catchUp);
        for (const tick of ticks) {
          try {
            const { created } = await config.startRun({
              workflow: schedule.workflow,
              input: schedule.input,
              idempotencyKey: scheduleRunKey(schedule.id, tick),
            });
            if (created) started++;
          } catch (error) {
            // The tick's run exists with the schedule's former input, or the input no longer fits the workflow:
            // that tick is over either way, and retrying it forever would stall the schedule.
            if (!(error instanceof IdempotencyKeyReusedError || error instanceof ValidationError)) throw error;
            onError(error, `schedule ${schedule.id}`);
          }
        }
        return { lastFireAt: ticks.at(-1) ?? null, nextFireAt: next };
      });
      if (claimed < 20) return started;
    }
  }

  function arm(delayMs: number) {
    if (!running) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      pass = loopOnce();
    }, delayMs);
  }

  async function loopOnce(): Promise<void> {
    try {
      await fireDue();
    } catch (error) {
      onError(error, 'scheduler');
    }
    let delayMs = pollMs;
    try {
      const due = await store.schedules.nextDueAt(workflows.names());
      // A due schedule still here is being fired by another node (SKIP LOCKED): look again shortly.
      if (due) delayMs = Math.min(pollMs, Math.max(25, due.getTime() - clock.now().getTime()));
    } catch (error) {
      onError(error, 'scheduler');
    }
    arm(delayMs);
  }

  return {
    fireDue,

    async create(spec: ScheduleSpec): Promise<ScheduleView> {
      const created = await store.schedules.insert(newSchedule(spec, 'api'));
      if (!created) throw new ScheduleExistsError(spec.id);
      arm(0);
      return present(created);
    },

    /** Creates or updates schedules declared in code (a pause made through the API stays). */
    async upsert(definitions: Iterable<ScheduleDefinition>): Promise<void> {
      for (const definition of definitions) await store.schedules.upsert(newSchedule(definition, 'code'));
    },

    async list(): Promise<ScheduleView[]> {
      return (await store.schedules.list()).map(present);
    },

    async get(id: string): Promise<ScheduleView> {
      return present(await requireSchedule(id));
    },

    async pause(id: string): Promise<ScheduleView> {
      const paused = await store.schedules.setEnabled(id, { enabled: false, nextFireAt: null });
      if (!paused) throw new ScheduleNotFoundError(id);
      return present(paused);
    },

    /** Resumes from the first tick after now: ticks that passed while paused are not started. */
    async resume(id: string): Promise<ScheduleView> {
      const schedule = await requireSchedule(id);
      if (schedule.enabled) return present(schedule);
      const next = parseCron(schedule.cron, schedule.timezone).nextRun(clock.now());
      const resumed = await store.schedules.setEnabled(id, { enabled: true, nextFireAt: next });
      if (!resumed) throw new ScheduleNotFoundError(id);
      arm(0);
      return present(resumed);
    },

    async delete(id: string): Promise<void> {
      if (!(await store.schedules.delete(id))) throw new ScheduleNotFoundError(id);
    },

    /** Starts this instance's scheduler loop. */
    start(): void {
      running = true;
      arm(0);
    },

    /** Stops the loop; resolves once a pass in progress has ended. */
    async stop(): Promise<void> {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      await pass;
    },
  };
}

export type Schedules = ReturnType<typeof createSchedules>;
