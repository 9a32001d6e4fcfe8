import type { RunAppended } from '@runstream/domain';

/**
 * What a subscriber hears: a run reached `lastSeq`, or `resync` — signals may have been lost (the LISTEN
 * connection dropped), so re-read the log rather than trust what was heard.
 */
export type BusSignal = ({ kind: 'appended' } & RunAppended) | { kind: 'resync' };
export type BusListener = (signal: BusSignal) => void;

/**
 * In-process fan-out of "run R has new events up to seq S". One per runtime, never shared: it is fed by the
 * LISTEN connection (appends on any node) and by the outbox drainer, and holds no events, only wake-ups.
 */
export class RunEventBus {
  private readonly byRun = new Map<string, Set<BusListener>>();
  private readonly everyRun = new Set<BusListener>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => {}) {}

  /** Hear about one run. Returns the unsubscribe function; calling it twice is harmless. */
  subscribe(runId: string, listener: BusListener): () => void {
    let listeners = this.byRun.get(runId);
    if (!listeners) this.byRun.set(runId, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.byRun.get(runId) === listeners) this.byRun.delete(runId);
    };
  }

  /** Hear about every run (the cross-run feed, the engine). */
  subscribeAll(listener: BusListener): () => void {
    this.everyRun.add(listener);
    return () => this.everyRun.delete(listener);
  }

  publish(signal: RunAppended): void {
    const message: BusSignal = { kind: 'appended', ...signal };
    this.deliver(this.everyRun, message);
    const listeners = this.byRun.get(signal.runId);
    if (listeners) this.deliver(listeners, message);
  }

  resync(): void {
    const message: BusSignal = { kind: 'resync' };
    this.deliver(this.everyRun, message);
    for (const listeners of this.byRun.values()) this.deliver(listeners, message);
  }

  /** Open subscriptions; a leak shows up here first. */
  listenerCount(): number {
    let count = this.everyRun.size;
    for (const listeners of this.byRun.values()) count += listeners.size;
    return count;
  }

  private deliver(listeners: Set<BusListener>, signal: BusSignal): void {
    for (const listener of [...listeners]) {
      try {
        listener(signal);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
