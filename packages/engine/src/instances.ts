import type { Clock } from '@runstream/domain';
import { instances, type Database, type InstanceRow } from '@runstream/db';
import { desc, eq, sql } from 'drizzle-orm';
import { hostname } from 'node:os';

export type Instance = InstanceRow;

/** Each engine process records itself, heartbeats its load, and says goodbye on shutdown. */
export function createInstanceRegistry(db: Database, clock: Clock, id: string, concurrency: number) {
  return {
    async register(): Promise<void> {
      const now = clock.now();
      await db
        .insert(instances)
        .values({ id, host: hostname(), pid: process.pid, concurrency, load: 0, status: 'alive', startedAt: now, heartbeatAt: now })
        .onConflictDoUpdate({ target: instances.id, set: { status: 'alive', heartbeatAt: now, stoppedAt: null } });
    },
    async heartbeat(load: number): Promise<void> {
      await db.update(instances).set({ load, heartbeatAt: clock.now(), status: 'alive' }).where(eq(instances.id, id));
    },
    async stopped(): Promise<void> {
      await db.update(instances).set({ status: 'stopped', load: 0, stoppedAt: clock.now() }).where(eq(instances.id, id));
    },
    /** Marks instances silent for `staleMs` dead and expires their leases, so the sweeper recovers their runs. */
    async reapStale(staleMs: number): Promise<string[]> {
      const now = clock.now();
      const cutoff = new Date(now.getTime() - staleMs);
      const dead = await db
        .update(instances)
        .set({ status: 'dead' })
        .where(sql`${instances.status} = 'alive' and ${instances.heartbeatAt} < ${cutoff.toISOString()}::timestamptz`)
        .returning({ id: instances.id });
      for (const { id: deadId } of dead) {
        await db.execute(sql`
          update runs set lease_expires_at = ${now.toISOString()}::timestamptz
          where lease_owner = ${deadId} and status in ('queued', 'running')`);
      }
      return dead.map((row) => row.id);
    },
    list(): Promise<Instance[]> {
      return db.select().from(instances).orderBy(desc(instances.heartbeatAt)).limit(500);
    },
  };
}

export type InstanceRegistry = ReturnType<typeof createInstanceRegistry>;
