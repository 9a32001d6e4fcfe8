import { instances } from '@runstream/db';
import { systemClock, type Clock } from '@runstream/domain';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { sql } from 'drizzle-orm';
import type { Run } from '../runs/run.js';
import { connectStore, type EventLog, type RunRepository, type Store } from '../store.js';

export interface TestStore {
  database: TestDatabase;
  clock: Clock;
  store: Store;
  eventLog: EventLog;
  runs: RunRepository;
  /** Creates a run (its `run.created` event at seq 1) and returns it. */
  createRun(workflow: string, input: unknown): Promise<Run>;
  getRun(id: string): Promise<Run | null>;
  /** Closes the pool, then drops the database. */
  close(): Promise<void>;
}

/**
 * The store on a fresh database of its own, for the tests of the store and the packages beneath the runtime
 * (a small pool: test files run in parallel).
 */
export async function createTestStore({ clock = systemClock }: { clock?: Clock } = {}): Promise<TestStore> {
  const database = await createTestDatabase();
  const connection = connectStore({
    databaseUrl: database.url,
    poolSize: 4,
    applicationName: `runstream:${database.name}`,
    clock,
  });
  const { store } = connection;
  return {
    database,
    clock,
    store,
    eventLog: store.events,
    runs: store.runs,
    createRun: async (workflow, input) => (await store.runs.create({ workflow, input })).run,
    getRun: (id) => store.runs.get(id),
    async close() {
      await connection.close();
      await database.drop();
    },
  };
}

/**
 * Probes for tests: reads of state no operation exposes (lease columns, row counts, sessions) and the few
 * writes a test needs to stage a situation (a lease already expired, an instance silent for an hour).
 */
type Probed = Pick<Store, 'db'>;

/** The run's lease columns (not part of the Run model). */
export async function leaseOf(
  { db }: Probed,
  runId: string,
): Promise<{ owner: string | null; token: number; expiresAt: Date | null }> {
  const [row] = await db.execute<{ lease_owner: string | null; lease_token: number; lease_expires_at: string | null }>(
    sql`select lease_owner, lease_token, lease_expires_at::text from runs where id = ${runId}`,
  );
  if (!row) throw new Error(`run ${runId} not found`);
  return {
    owner: row.lease_owner,
    token: row.lease_token,
    expiresAt: row.lease_expires_at === null ? null : new Date(row.lease_expires_at),
  };
}

/** Makes the run's lease expire a second ago, as if its holder had stopped renewing it. */
export async function expireLease({ db }: Probed, runId: string): Promise<void> {
  await db.execute(sql`update runs set lease_expires_at = now() - interval '1 second' where id = ${runId}`);
}

/** Writes an instance row as given (a backdated heartbeat, say). */
export async function insertInstance({ db }: Probed, instance: typeof instances.$inferInsert): Promise<void> {
  await db.insert(instances).values(instance);
}

export async function countRunsAndEvents({ db }: Probed): Promise<{ runs: number; events: number }> {
  const [row] = await db.execute<{ runs: number; events: number }>(
    sql`select (select count(*) from runs)::int as runs, (select count(*) from run_events)::int as events`,
  );
  return row!;
}

export async function countRunsWithIdempotencyKey({ db }: Probed, key: string): Promise<number> {
  const [row] = await db.execute<{ n: number }>(sql`select count(*)::int as n from runs where idempotency_key = ${key}`);
  return row!.n;
}

/** The highest event position so far ('0' when the log is empty). */
export async function lastEventPosition({ db }: Probed): Promise<string> {
  const [row] = await db.execute<{ position: string }>(
    sql`select coalesce(max(position), 0)::text as position from run_events`,
  );
  return row!.position;
}

/** Events appended after `position`; with `type`, only those, and with `chunkIndex`, only chunks indexed in that range. */
export async function countEventsAfter(
  { db }: Probed,
  position: string,
  filter: { type?: string; chunkIndex?: [number, number] } = {},
): Promise<number> {
  const conditions = [sql`position > ${position}::bigint`];
  if (filter.type !== undefined) conditions.push(sql`type = ${filter.type}`);
  if (filter.chunkIndex) conditions.push(sql`(data->>'index')::int between ${filter.chunkIndex[0]} and ${filter.chunkIndex[1]}`);
  const [row] = await db.execute<{ n: number }>(
    sql`select count(*)::int as n from run_events where ${sql.join(conditions, sql` and `)}`,
  );
  return row!.n;
}

/** The current snapshot's xmin: the oldest transaction still in flight on the cluster. */
export async function snapshotXmin({ db }: Probed): Promise<bigint> {
  const [row] = await db.execute<{ xmin: string }>(sql`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`);
  return BigInt(row!.xmin);
}

export interface OutboxState extends Record<string, unknown> {
  id: number;
  run_id: string;
  first_seq: number;
  last_seq: number;
  attempts: number;
  last_error: string | null;
  published: boolean;
  failed: boolean;
}

export async function outboxRows({ db }: Probed): Promise<OutboxState[]> {
  const rows = await db.execute<OutboxState>(sql`
    select id::int as id, run_id, first_seq, last_seq, attempts, last_error,
      published_at is not null as published, failed_at is not null as failed
    from outbox order by id`);
  return [...rows];
}

export async function countUnpublishedOutboxRows({ db }: Probed): Promise<number> {
  const [row] = await db.execute<{ n: number }>(sql`select count(*)::int as n from outbox where published_at is null`);
  return row!.n;
}

export async function deleteOutboxRows({ db }: Probed): Promise<void> {
  await db.execute(sql`delete from outbox`);
}

/** Sessions connected to this database under `applicationName`. */
export async function countSessions({ db }: Probed, applicationName: string): Promise<number> {
  const [row] = await db.execute<{ n: number }>(sql`
    select count(*)::int as n from pg_stat_activity
    where application_name = ${applicationName} and datname = current_database()`);
  return row!.n;
}

/** Terminates the backends of this database's sessions under `applicationName`; one result per session. */
export async function terminateSessions({ db }: Probed, applicationName: string): Promise<boolean[]> {
  const rows = await db.execute<{ ok: boolean }>(sql`
    select pg_terminate_backend(pid) as ok from pg_stat_activity
    where application_name = ${applicationName} and datname = current_database()`);
  return rows.map((row) => row.ok);
}

/** Every session connected to the database `name` (seen from a connection to any database of the cluster). */
export async function sessionsOnDatabase({ db }: Probed, name: string): Promise<{ pid: number; application_name: string }[]> {
  const rows = await db.execute<{ pid: number; application_name: string }>(
    sql`select pid, application_name from pg_stat_activity where datname = ${name}`,
  );
  return [...rows];
}
