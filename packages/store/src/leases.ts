import { LeaseLostError } from '@runstream/domain';
import { sql, type SQL } from 'drizzle-orm';
import type { StoreContext } from './context.js';

/**
 * The lease and fencing protocol over the `runs` row's lease columns, all of it: take, renew, release, expire
 * the leases of dead instances, and the fence every fenced append checks. Whoever takes a lease gets the next
 * `lease_token`; a write under an older token is refused, so an execution that lost its lease (it stalled past
 * expiry and another took over) can never write into the run again.
 */

export type LeaseOutcome =
  | { kind: 'acquired'; token: number }
  | { kind: 'missing' }
  | { kind: 'finished' }
  /** Another execution holds an unexpired lease; if it dies, the sweeper re-dispatches after expiry. */
  | { kind: 'held' }
  /** The run is suspended until `wakeAt` (a delayed job is due then), or, when null, until a signal arrives. */
  | { kind: 'suspended'; wakeAt: Date | null }
  /** The workflow's concurrency limit (or its key's) is reached across all workers; `reason` is recorded on the run. */
  | { kind: 'throttled'; reason: string };

/** An append on behalf of the execution holding the run's lease under `token`. */
export interface Fence {
  token: number;
  /** Give the lease up in the same statement (a suspended or handed-off execution). */
  release?: boolean;
}

export interface AcquireOptions {
  leaseMs: number;
  /** Leased runs of the workflow at once, across all workers. */
  concurrency?: number;
  /** Leased runs of the workflow with the run's `concurrency_key` at once (a run without a key is not limited). */
  keyConcurrency?: number;
  /** The run's key when it was created without one (by a node lacking the workflow's code): stored with the lease. */
  concurrencyKey?: string;
}

export interface Leases {
  acquire(runId: string, owner: string, options: AcquireOptions): Promise<LeaseOutcome>;
  /** Extends the lease; false when it was lost (taken over, released, or the run finished). */
  renew(runId: string, token: number, leaseMs: number): Promise<boolean>;
  /** Gives the lease up without an event (a handed-off or early-woken execution). */
  release(runId: string, token: number): Promise<void>;
  /** Expires, as of now, every lease `owner` holds on an unfinished run, so the sweeper recovers those runs. */
  expireHeldBy(owner: string): Promise<void>;
}

/** The `where` condition of a fenced write: the lease is still held under the fence's token. */
export function fenceHolds(fence: Fence | undefined): SQL {
  return fence ? sql`and lease_token = ${fence.token} and lease_owner is not null` : sql``;
}

/** The `set` items that give the lease up (a finished run, or a fence with `release`). */
export function releasedLease(release: boolean): SQL {
  return release ? sql`, lease_owner = null, lease_expires_at = null` : sql``;
}

/** The fence check on lease columns already read: throws LeaseLostError when the fence no longer holds. */
export function checkFence(
  runId: string,
  fence: Fence | undefined,
  lease: { lease_token: number; lease_owner: string | null },
): void {
  if (fence && (lease.lease_token !== fence.token || lease.lease_owner === null)) {
    throw new LeaseLostError(runId, fence.token);
  }
}

interface LeaseRow extends Record<string, unknown> {
  status: string;
  workflow: string;
  concurrency_key: string | null;
  waiting_reason: string | null;
  lease_owner: string | null;
  lease_expires_at: string | null;
  wake_at: string | null;
  waiting: unknown;
  cancel_requested: boolean;
}

/** Why a lease cannot be taken now, from the run's row; null when nothing stands in the way. */
function refusal(run: LeaseRow | undefined, now: Date): LeaseOutcome | null {
  if (!run) return { kind: 'missing' };
  if (run.status !== 'queued' && run.status !== 'running') return { kind: 'finished' };
  if (run.lease_owner !== null && new Date(run.lease_expires_at!) > now) return { kind: 'held' };
  // A suspended run is woken early only to be cancelled.
  if (run.wake_at !== null && new Date(run.wake_at) > now && !run.cancel_requested) {
    return { kind: 'suspended', wakeAt: new Date(run.wake_at) };
  }
  // A run waiting for a signal without a timeout is woken by that signal (which clears `waiting`).
  if (run.waiting !== null && run.wake_at === null && !run.cancel_requested) return { kind: 'suspended', wakeAt: null };
  return null;
}

export function createLeases({ db, clock }: StoreContext): Leases {
  /**
   * Without a concurrency limit, one statement: the update takes the lease where `refusal` would find nothing
   * in the way (the same conditions, in SQL), and the row as it was tells why when it did not.
   */
  async function acquireAtOnce(runId: string, owner: string, leaseMs: number): Promise<LeaseOutcome> {
    const now = clock.now();
    const at = now.toISOString();
    const [run] = await db.execute<LeaseRow & { taken_token: number | null }>(sql`
      with run as (
        select status, workflow, concurrency_key, waiting_reason, lease_owner, lease_expires_at, wake_at, waiting,
          cancel_requested
        from runs where id = ${runId}
      ), taken as (
        update runs set lease_owner = ${owner}, lease_token = lease_token + 1, waiting_reason = null,
          lease_expires_at = ${new Date(now.getTime() + leaseMs).toISOString()}::timestamptz
        where id = ${runId} and status in ('queued', 'running')
          and (lease_owner is null or lease_expires_at <= ${at}::timestamptz)
          and (cancel_requested or ((wake_at is null or wake_at <= ${at}::timestamptz) and (waiting is null or wake_at is not null)))
        returning lease_token
      )
      select status, workflow, concurrency_key, waiting_reason, lease_owner, lease_expires_at::text, wake_at::text,
        waiting, cancel_requested, (select lease_token from taken) as taken_token
      from run`);
    if (run && run.taken_token !== null) return { kind: 'acquired', token: run.taken_token };
    // Not taken although nothing stood in the way when the statement began: another acquirer won the row.
    return refusal(run, now) ?? { kind: 'held' };
  }

  return {
    acquire(runId, owner, { leaseMs, concurrency, keyConcurrency, concurrencyKey }) {
      if (concurrency === undefined && keyConcurrency === undefined && concurrencyKey === undefined) {
        return acquireAtOnce(runId, owner, leaseMs);
      }
      return db.transaction(async (tx) => {
        const now = clock.now();
        const [row] = await tx.execute<LeaseRow>(sql`
          select status, workflow, concurrency_key, waiting_reason, lease_owner, lease_expires_at::text, wake_at::text, waiting,
            cancel_requested
          from runs where id = ${runId}`);
        const refused = refusal(row, now);
        if (refused) return refused;
        const run = row!;
        // The run waits (queued, or suspended-and-woken) with the reason recorded, so the API can show it.
        const throttle = async (reason: string): Promise<LeaseOutcome> => {
          if (run.waiting_reason !== reason) {
            await tx.execute(sql`update runs set waiting_reason = ${reason} where id = ${runId}`);
          }
          return { kind: 'throttled', reason };
        };
        const leasedNow = sql`status in ('queued', 'running') and lease_owner is not null
          and lease_expires_at > ${now.toISOString()}::timestamptz and id <> ${runId}`;
        if (concurrency !== undefined) {
          // Serializes acquirers of one workflow, so the count below cannot be raced past the limit.
          await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`runstream:workflow:${run.workflow}`}))`);
          // Queued runs count too: a lease is taken before run.started makes the run `running`, so a run just
          // leased by another worker is still `queued` here, and skipping it let more than the limit through.
          const [{ active } = { active: 0 }] = await tx.execute<{ active: number }>(sql`
            select count(*)::int as active from runs where workflow = ${run.workflow} and ${leasedNow}`);
          if (active >= concurrency) return throttle(`throttled: workflow ${run.workflow} has ${active} of ${concurrency} runs executing`);
        }
        const key = run.concurrency_key ?? concurrencyKey ?? null;
        if (keyConcurrency !== undefined && key !== null) {
          // Taken after the workflow's lock (always in this order, so two acquirers cannot deadlock).
          await tx.execute(
            sql`select pg_advisory_xact_lock(hashtext(${`runstream:key:${run.workflow}:${key}`}))`,
          );
          const [{ active } = { active: 0 }] = await tx.execute<{ active: number }>(sql`
            select count(*)::int as active from runs
            where workflow = ${run.workflow} and concurrency_key = ${key} and ${leasedNow}`);
          if (active >= keyConcurrency) {
            return throttle(`throttled: key ${key} has ${active} of ${keyConcurrency} runs executing`);
          }
        }
        const [taken] = await tx.execute<{ lease_token: number }>(sql`
          update runs set lease_owner = ${owner}, lease_token = lease_token + 1, waiting_reason = null,
            concurrency_key = coalesce(concurrency_key, ${key}),
            lease_expires_at = ${new Date(now.getTime() + leaseMs).toISOString()}::timestamptz
          where id = ${runId} and status in ('queued', 'running')
            and (lease_owner is null or lease_expires_at <= ${now.toISOString()}::timestamptz)
          returning lease_token`);
        return taken ? { kind: 'acquired', token: taken.lease_token } : { kind: 'held' };
      });
    },

    async renew(runId, token, leaseMs) {
      const expires = new Date(clock.now().getTime() + leaseMs).toISOString();
      const rows = await db.execute(sql`
        update runs set lease_expires_at = ${expires}::timestamptz
        where id = ${runId} and lease_token = ${token} and lease_owner is not null
        returning 1`);
      return rows.length === 1;
    },

    async release(runId, token) {
      await db.execute(sql`
        update runs set lease_owner = null, lease_expires_at = null
        where id = ${runId} and lease_token = ${token}`);
    },

    async expireHeldBy(owner) {
      await db.execute(sql`
        update runs set lease_expires_at = ${clock.now().toISOString()}::timestamptz
        where lease_owner = ${owner} and status in ('queued', 'running')`);
    },
  };
}
