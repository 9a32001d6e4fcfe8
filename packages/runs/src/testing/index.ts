import { connectDatabase, type Database } from '@runstream/db';
import { systemClock, type Clock } from '@runstream/domain';
import { createEventLog, type EventLog } from '@runstream/event-log';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { createRunRepository, type RunRepository } from '../run-repository.js';

export interface TestStore {
  database: TestDatabase;
  db: Database;
  clock: Clock;
  eventLog: EventLog;
  runs: RunRepository;
  /** Closes the pool, then drops the database. */
  close(): Promise<void>;
}

/**
 * The event log and the run repository on a fresh database of its own, for the tests of the packages beneath
 * the runtime (a small pool: test files run in parallel).
 */
export async function createTestStore({ clock = systemClock }: { clock?: Clock } = {}): Promise<TestStore> {
  const database = await createTestDatabase();
  const handle = connectDatabase(database.url, { max: 4, applicationName: `runstream:${database.name}` });
  const { db } = handle;
  return {
    database,
    db,
    clock,
    eventLog: createEventLog({ db, clock }),
    runs: createRunRepository({ db, clock }),
    async close() {
      await handle.close();
      await database.drop();
    },
  };
}
