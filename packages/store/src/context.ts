import type { Database } from '@runstream/db';
import type { Clock, RunAppended } from '@runstream/domain';
import type { KnownProjections } from './events/known-projections.js';

/** What every store operation runs with: the connection (or a caller's transaction), the clock, the append hook. */
export interface StoreContext {
  db: Database;
  clock: Clock;
  /**
   * Called after every append: wakes local subscribers and announces it to other nodes. Inside a caller's
   * transaction it runs before that commits; a listener woken early re-reads, finds nothing yet, and is woken
   * again by the outbox drainer. `outboxed`: the append also wrote an outbox row (worth waking the drainer).
   */
  onAppended?: (signal: RunAppended, outboxed: boolean) => void;
  /** Projections this store wrote last, per run (pool-bound stores only: see KnownProjections). */
  known?: KnownProjections;
}

/** The part of the context the event log needs: it also runs inside a caller's transaction. */
export interface EventLogContext extends Omit<StoreContext, 'db'> {
  db: Pick<Database, 'execute'>;
}
