import { instances, type InstanceRow } from '@runstream/db';
import { desc, eq, sql } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/** The engine processes that registered themselves, with their last heartbeat and load. */
export type Instance = InstanceRow;

export interface NewInstance {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
}

/** Records an instance as alive (again, if its id was seen before). */
export async function registerInstance({ db, clock }: StoreContext, instance: NewInstance): Promise<void> {
  const now = clock.now();
  await db
    .insert(instances)
    .values({ ...instance, load: 0, status: 'alive', startedAt: now, heartbeatAt: now })
    .onConflictDoUpdate({ target: instances.id, set: { status: 'alive', heartbeatAt: now, stoppedAt: null } });
}

export async function heartbeatInstance({ db, clock }: StoreContext, id: string, load: number): Promise<void> {
  await db.update(instances).set({ load, heartbeatAt: clock.now(), status: 'alive' }).where(eq(instances.id, id));
}

export async function markInstanceStopped({ db, clock }: StoreContext, id: string): Promise<void> {
  await db.update(instances).set({ status: 'stopped', load: 0, stoppedAt: clock.now() }).where(eq(instances.id, id));
}

/** Marks instances silent for `staleMs` dead; returns their ids. */
export async function markStaleInstancesDead({ db, clock }: StoreContext, staleMs: number): Promise<string[]> {
  const cutoff = new Date(clock.now().getTime() - staleMs);
  const dead = await db
    .update(instances)
    .set({ status: 'dead' })
    .where(sql`${instances.status} = 'alive' and ${instances.heartbeatAt} < ${cutoff.toISOString()}::timestamptz`)
    .returning({ id: instances.id });
  return dead.map((row) => row.id);
}

/** The most recently heard-from instances first. */
export function listInstances({ db }: StoreContext): Promise<Instance[]> {
  return db.select().from(instances).orderBy(desc(instances.heartbeatAt)).limit(500);
}
