import { isTerminal, type RunState } from '@runstream/domain';

/** A run's projection as of `lastSeq`. */
export interface KnownProjection {
  lastSeq: number;
  state: RunState;
}

/**
 * The projection each unfinished run had after this store's last write to it, so the next status change can
 * fold from it and write in one statement, guarded by `last_seq`, instead of reading the row first. A run's
 * projection at a given last seq never changes (every change to it appends), so a stale entry can only make
 * that guard fail, never let a wrong write through. Only for a store on the pool: an append inside a caller's
 * transaction may still roll back. Bounded: the oldest entries go first.
 */
export class KnownProjections {
  private readonly byRun = new Map<string, KnownProjection>();

  constructor(private readonly capacity = 10_000) {}

  get(runId: string): KnownProjection | undefined {
    return this.byRun.get(runId);
  }

  remember(runId: string, lastSeq: number, state: RunState): void {
    this.byRun.delete(runId);
    if (isTerminal(state.status)) return;
    this.byRun.set(runId, { lastSeq, state });
    if (this.byRun.size > this.capacity) this.byRun.delete(this.byRun.keys().next().value!);
  }

  forget(runId: string): void {
    this.byRun.delete(runId);
  }
}
