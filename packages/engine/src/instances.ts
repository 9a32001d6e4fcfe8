import type { Instance, Store } from '@runstream/store';
import { hostname } from 'node:os';

export type { Instance };

/** Each engine process records itself, heartbeats its load, and says goodbye on shutdown. */
export function createInstanceRegistry(store: Pick<Store, 'instances' | 'leases'>, id: string, concurrency: number) {
  return {
    register: () => store.instances.register({ id, host: hostname(), pid: process.pid, concurrency }),
    heartbeat: (load: number) => store.instances.heartbeat(id, load),
    stopped: () => store.instances.markStopped(id),
    /** Marks instances silent for `staleMs` dead and expires their leases, so the sweeper recovers their runs. */
    async reapStale(staleMs: number): Promise<string[]> {
      const dead = await store.instances.markStaleDead(staleMs);
      for (const deadId of dead) await store.leases.expireHeldBy(deadId);
      return dead;
    },
    list: () => store.instances.list(),
  };
}

export type InstanceRegistry = ReturnType<typeof createInstanceRegistry>;
