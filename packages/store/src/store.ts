import { defaults, type Clock, type RunAppended } from '@runstream/domain';
import { connectDatabase } from '@runstream/db';
import type { EventLogContext, StoreContext } from './context.js';
import { appendEvents, type AppendOptions } from './events/append.js';
import { KnownProjections } from './events/known-projections.js';
import { readAllEvents } from './events/read-all.js';
import { readEncodedEvents, readEvents, readEventStream, type ReadOptions } from './events/read.js';
import { currentFeedCursor } from './feed.js';
import { ping } from './health.js';
import { analyzeEventLog } from './maintenance.js';
import {
  heartbeatInstance,
  listInstances,
  markInstanceStopped,
  markStaleInstancesDead,
  registerInstance,
  type NewInstance,
} from './instances.js';
import { createLeases } from './leases.js';
import { countEventsAppended, countRunsByStatus, measureOutboxBacklog } from './metrics.js';
import { sendNotification } from './notifications.js';
import { claimOutboxBatch, type ClaimedOutboxBatch } from './outbox.js';
import { createRun, type CreateRunInput } from './runs/create.js';
import { findQueuedDependents, getRunStatuses } from './runs/dependencies.js';
import { getRun, getRunByIdempotencyKey, getSuspendedWakeAt } from './runs/get.js';
import { listRuns, type ListRunsFilter } from './runs/list.js';
import { findStrandedRuns } from './sweeps.js';
import { claimDueSchedules, type ScheduleAdvance } from './schedules/claim.js';
import { getSchedule, listSchedules, nextScheduleDueAt } from './schedules/read.js';
import type { NewSchedule, Schedule } from './schedules/schedule.js';
import { deleteSchedule, insertSchedule, setScheduleEnabled, upsertSchedule } from './schedules/write.js';
import {
  currentWorkflowVersion,
  listWorkflowVersions,
  registerWorkflowVersions,
  touchWorkflowVersions,
  type NewWorkflowVersion,
} from './workflow-versions.js';

export type Store = ReturnType<typeof createStore>;
export type EventLog = ReturnType<typeof createEventLog>;
export type RunRepository = Store['runs'];

/**
 * A run's log and the cross-run feed. On the pool (as `Store['events']`), or on a caller's transaction
 * (`db.transaction(tx => createEventLog({ db: tx, clock }))`): appends then commit with that transaction.
 */
export function createEventLog(context: EventLogContext) {
  return {
    append: (runId: string, events: readonly unknown[], options?: AppendOptions) =>
      appendEvents(context, runId, events, options),
    read: (runId: string, options?: ReadOptions) => readEvents(context, runId, options),
    readStream: (runId: string, options?: ReadOptions) => readEventStream(context, runId, options),
    readEncoded: (runId: string, options: ReadOptions & { withStacks: boolean }) =>
      readEncodedEvents(context, runId, options),
    readAll: (options?: { after?: string; limit?: number }) => readAllEvents(context, options),
  };
}

/**
 * Every statement Runstream runs, bound to one connection pool and clock. `onAppended` hears about every
 * committed append (run creation included).
 */
export function createStore(context: StoreContext) {
  const { db } = context;
  return {
    /** The pool every operation runs on; for this package's tests and its `./testing` probes. */
    db,
    events: createEventLog(context),
    runs: {
      create: (input: CreateRunInput) => createRun(context, input),
      get: (id: string) => getRun(context, id),
      getByIdempotencyKey: (key: string) => getRunByIdempotencyKey(context, key),
      list: (filter?: ListRunsFilter) => listRuns(context, filter),
      suspendedWakeAt: (id: string) => getSuspendedWakeAt(context, id),
      statuses: (ids: readonly string[]) => getRunStatuses(context, ids),
      queuedDependents: (runId: string) => findQueuedDependents(context, runId),
    },
    leases: createLeases(context),
    instances: {
      register: (instance: NewInstance) => registerInstance(context, instance),
      heartbeat: (id: string, load: number) => heartbeatInstance(context, id, load),
      markStopped: (id: string) => markInstanceStopped(context, id),
      markStaleDead: (staleMs: number) => markStaleInstancesDead(context, staleMs),
      list: () => listInstances(context),
    },
    workflowVersions: {
      register: (instanceId: string, versions: readonly NewWorkflowVersion[]) =>
        registerWorkflowVersions(context, instanceId, versions),
      touch: (instanceId: string) => touchWorkflowVersions(context, instanceId),
      /** `staleMs`: a worker silent longer is not live (as the instance reaper judges it). */
      list: (staleMs: number) => listWorkflowVersions(context, staleMs),
      current: (workflow: string, staleMs: number) => currentWorkflowVersion(context, workflow, staleMs),
    },
    schedules: {
      insert: (schedule: NewSchedule) => insertSchedule(context, schedule),
      upsert: (schedule: NewSchedule) => upsertSchedule(context, schedule),
      get: (id: string) => getSchedule(context, id),
      list: () => listSchedules(context),
      setEnabled: (id: string, change: { enabled: boolean; nextFireAt: Date | null }) =>
        setScheduleEnabled(context, id, change),
      delete: (id: string) => deleteSchedule(context, id),
      nextDueAt: (workflows: readonly string[]) => nextScheduleDueAt(context, workflows),
      claimDue: (
        options: { now: Date; workflows: readonly string[]; limit: number },
        fire: (schedule: Schedule) => Promise<ScheduleAdvance>,
      ) => claimDueSchedules(context, options, fire),
    },
    outbox: {
      claimBatch: <T>(options: { now: Date; limit: number }, work: (batch: ClaimedOutboxBatch) => Promise<T>) =>
        claimOutboxBatch(context, options, work),
    },
    sweeps: {
      findStranded: (options: { overdueMs: number; limit: number }) => findStrandedRuns(context, options),
    },
    metrics: {
      runsByStatus: () => countRunsByStatus(context),
      eventsAppended: () => countEventsAppended(context),
      outboxBacklog: () => measureOutboxBacklog(context),
    },
    feed: {
      currentCursor: () => currentFeedCursor(context),
    },
    ping: () => ping(context),
    analyzeEventLog: () => analyzeEventLog(context),
    notify: (channel: string, payload: string) => sendNotification(context, channel, payload),
  };
}

export interface StoreConnectionConfig {
  databaseUrl: string;
  /** Connection pool size. Default `defaults.databasePoolSize` (domain). */
  poolSize?: number;
  /** `application_name`, visible in pg_stat_activity. */
  applicationName?: string;
  clock: Clock;
  onAppended?: (signal: RunAppended, outboxed: boolean) => void;
}

export interface StoreConnection {
  store: Store;
  /** Ends every pooled connection; pending queries finish first, up to `timeoutSeconds` (default 5). */
  close(timeoutSeconds?: number): Promise<void>;
}

/** Opens a connection pool and the store on it. */
export function connectStore(config: StoreConnectionConfig): StoreConnection {
  const database = connectDatabase(config.databaseUrl, {
    max: config.poolSize ?? defaults.databasePoolSize,
    applicationName: config.applicationName,
  });
  return {
    store: createStore({
      db: database.db,
      clock: config.clock,
      onAppended: config.onAppended,
      known: new KnownProjections(),
    }),
    close: (timeoutSeconds) => database.close(timeoutSeconds),
  };
}

