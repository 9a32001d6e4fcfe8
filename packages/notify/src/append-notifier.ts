import type { RunAppended } from '@runstream/domain';
import { encodeRunAppendedBatches } from './codec.js';

/**
 * Announces committed appends to other nodes with NOTIFY, after the fact and coalesced. NOTIFY inside the
 * appending transaction would take PostgreSQL's database-wide notify lock and hold it through that commit's
 * disk flush, serializing every appender. Sent on its own, a NOTIFY commits without a flush, so the lock is
 * held for microseconds; and everything appended while one is in flight goes out in the next, one payload for
 * many runs. A NOTIFY lost here (a crash, a dropped connection) only delays listeners until their periodic
 * re-check (or, for an append that wrote an outbox row, the drainer) catches up.
 */
export class AppendNotifier {
  private pending = new Map<string, number>();
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly send: (payload: string) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  notify({ runId, lastSeq }: RunAppended): void {
    if (this.closed) return;
    this.pending.set(runId, Math.max(lastSeq, this.pending.get(runId) ?? 0));
    this.flushing ??= this.flushLoop();
  }

  /** Sends what is pending, then refuses more. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    // Yield once so appends finishing in the same tick share a NOTIFY.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.size > 0) {
      const batch = this.pending;
      this.pending = new Map();
      const signals = [...batch].map(([runId, lastSeq]) => ({ runId, lastSeq }));
      for (const payload of encodeRunAppendedBatches(signals)) {
        try {
          await this.send(payload);
        } catch (error) {
          this.onError(error);
        }
      }
    }
    this.flushing = null;
  }
}
