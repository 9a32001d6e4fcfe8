import { backoffDelay, type Clock } from '@runstream/domain';
import type { OutboxMessage, Store } from '@runstream/store';

export type { OutboxMessage };

/** Where drained messages go (the bus, the job queue). Throwing keeps the message for a later retry. */
export interface OutboxPublisher {
  publish(message: OutboxMessage): Promise<void>;
}

export interface DrainResult {
  /** Rows claimed this pass (published, retried or held back behind an earlier row of the same run). */
  claimed: number;
  published: number;
  /** Rows whose publish threw and are scheduled for another attempt. */
  retrying: number;
  /** Rows that used their last attempt and are now parked as failed. */
  failed: number;
}

export interface OutboxDrainerConfig {
  store: Pick<Store, 'outbox'>;
  publisher: OutboxPublisher;
  clock: Clock;
  /** Publish attempts before a row is parked as failed. Default 10. */
  maxAttempts?: number;
  /** Delay before attempt `n + 1` after `n` failures. Default: exponential from 1 s, capped at 5 min, jittered. */
  backoffMs?: (failures: number) => number;
  /** Rows per pass. Default 200. */
  batchSize?: number;
  /** Idle time between passes when nothing wakes the loop. Default 1 s. */
  pollIntervalMs?: number;
  onError?: (error: unknown) => void;
}

export type OutboxDrainer = ReturnType<typeof createOutboxDrainer>;

export function exponentialBackoff(baseMs: number, capMs: number): (failures: number) => number {
  return (failures) => backoffDelay(failures, { baseMs, maxMs: capMs });
}

export function createOutboxDrainer(config: OutboxDrainerConfig) {
  const { store, publisher, clock } = config;
  const maxAttempts = config.maxAttempts ?? 10;
  const backoffMs = config.backoffMs ?? exponentialBackoff(1_000, 300_000);
  const batchSize = config.batchSize ?? 200;
  const pollIntervalMs = config.pollIntervalMs ?? 1_000;
  const onError = config.onError ?? (() => {});

  /**
   * One pass. The store claims rows inside a transaction that stays open while they are published (two drainers
   * never take the same row; a drainer that dies mid-pass releases its rows), and leaves out rows held back
   * behind an earlier unpublished row of their run, so each run's rows go out in seq order.
   */
  async function drainPass(limit = batchSize): Promise<DrainResult> {
    const now = clock.now();
    return store.outbox.claimBatch({ now, limit }, async (batch) => {
      const byRun = new Map<string, OutboxMessage[]>();
      for (const message of batch.messages) {
        byRun.set(message.runId, [...(byRun.get(message.runId) ?? []), message]);
      }

      const published: number[] = [];
      const failures: { message: OutboxMessage; error: unknown }[] = [];
      await Promise.all(
        [...byRun.values()].map(async (messages) => {
          for (const message of messages) {
            try {
              await publisher.publish(message);
              published.push(message.id);
            } catch (error) {
              // Later rows of this run stay unpublished so the run's order holds.
              failures.push({ message, error });
              return;
            }
          }
        }),
      );

      await batch.markPublished(published, now);
      let failed = 0;
      for (const { message, error } of failures) {
        const attempts = message.attempts + 1;
        const failure = {
          attempts,
          lastError: errorText(error),
          availableAt: new Date(clock.now().getTime() + backoffMs(attempts)),
        };
        if (attempts >= maxAttempts) {
          failed++;
          await batch.park(message.id, { ...failure, failedAt: now });
        } else {
          await batch.reschedule(message.id, failure);
        }
      }
      return { claimed: batch.claimed, published: published.length, retrying: failures.length - failed, failed };
    });
  }

  /** One deterministic pass for tests and tools: returns how many rows it published. */
  async function drainOnce(options: { limit?: number } = {}): Promise<number> {
    return (await drainPass(options.limit)).published;
  }

  /** Passes until one claims nothing that it could publish. Returns the total published. */
  async function drainUntilIdle(): Promise<number> {
    let total = 0;
    for (;;) {
      const pass = await drainPass();
      total += pass.published;
      if (pass.published === 0) return total;
    }
  }

  let running = false;
  let loop: Promise<void> | null = null;
  let wakeUp: (() => void) | null = null;
  let wakeRequested = false;

  /** Ends the current idle wait early; a wake during a pass triggers another pass right after it. */
  function wake(): void {
    wakeRequested = true;
    wakeUp?.();
  }

  function idle(ms: number): Promise<void> {
    if (wakeRequested || !running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });
  }

  async function runLoop(): Promise<void> {
    let consecutiveErrors = 0;
    while (running) {
      wakeRequested = false;
      try {
        const pass = await drainPass();
        consecutiveErrors = 0;
        if (pass.claimed === batchSize) continue;
        await idle(pollIntervalMs);
      } catch (error) {
        onError(error);
        consecutiveErrors++;
        await idle(Math.min(pollIntervalMs * 2 ** consecutiveErrors, 30_000));
      }
    }
  }

  return {
    drainOnce,
    drainUntilIdle,
    wake,
    /** Starts the background loop: a pass on every wake, and at least every `pollIntervalMs`. */
    start(): void {
      if (running) return;
      running = true;
      loop = runLoop();
    },
    /** Stops the loop after the pass in hand has finished. */
    async stop(): Promise<void> {
      running = false;
      wakeUp?.();
      await loop;
      loop = null;
    },
  };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 2_000);
}
