import { connectDatabase, runs, uuidv7, type Database, type RunRow } from '@runstream/db';
import { applyEvent, systemClock, type Clock, type NewEvent } from '@runstream/domain';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { eq, sql } from 'drizzle-orm';
import { createEventLog, type EventLog } from '../event-log.js';
import { eventWrites } from '../event-writes.js';

type RunInput = Extract<NewEvent, { type: 'run.created' }>['data']['input'];

export interface TestEventLog {
  database: TestDatabase;
  db: Database;
  clock: Clock;
  eventLog: EventLog;
  /**
   * Creates a run at seq 1 (its `run.created` event), as the run repository does; the repository builds on the
   * event log, so the log's own tests cannot use it.
   */
  createRun(workflow: string, input: RunInput): Promise<RunRow>;
  /** The run's projection row, or null. */
  getRun(id: string): Promise<RunRow | null>;
  /** Closes the pool, then drops the database. */
  close(): Promise<void>;
}

/** An event log on a fresh database of its own (a small pool: test files run in parallel). */
export async function createTestEventLog({ clock = systemClock }: { clock?: Clock } = {}): Promise<TestEventLog> {
  const database = await createTestDatabase();
  const handle = connectDatabase(database.url, { max: 4, applicationName: `runstream:${database.name}` });
  const { db } = handle;

  async function getRun(id: string): Promise<RunRow | null> {
    const [row] = await db.select().from(runs).where(eq(runs.id, id));
    return row ?? null;
  }

  return {
    database,
    db,
    clock,
    eventLog: createEventLog({ db, clock }),
    async createRun(workflow, input) {
      const event: NewEvent = { type: 'run.created', data: { workflow, input } };
      const at = clock.now();
      const id = uuidv7(at.getTime());
      await db.execute(sql`
        with created_run as (
          insert into runs (id, workflow, input, status, last_seq, created_at, updated_at)
          values (${id}, ${workflow}, ${JSON.stringify(input)}::jsonb, ${applyEvent(null, event, at).status}, 1,
            ${at.toISOString()}::timestamptz, ${at.toISOString()}::timestamptz)
          returning id, 0 as base_seq
        ), ${eventWrites({ source: 'created_run', events: [event], at })}
        select id from created_run`);
      const run = await getRun(id);
      if (!run) throw new Error(`run ${id} vanished right after it was created`);
      return run;
    },
    getRun,
    async close() {
      await handle.close();
      await database.drop();
    },
  };
}
