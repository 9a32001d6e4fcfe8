import { defaults, systemClock, type Clock, type RunAppended } from '@runstream/domain';
import { AppendNotifier, appendChannel, createNotificationListener, RunEventBus } from '@runstream/notify';
import {
  createOutboxDrainer,
  type OutboxDrainer,
  type OutboxDrainerConfig,
  type OutboxMessage,
  type OutboxPublisher,
} from '@runstream/outbox';
import { connectStore, type EventLog, type RunRepository, type Store } from '@runstream/store';

const MAX_UNHEARD_OWN_APPENDS = 10_000;

export interface RuntimeConfig {
  databaseUrl: string;
  /**
   * Separates this runtime's queues and notifications from others sharing the same services. Nodes of one
   * deployment share a namespace; parallel test workers each get their own.
   */
  namespace: string;
  clock?: Clock;
  /** Connection pool size. Default `defaults.databasePoolSize` (domain). */
  poolSize?: number;
  drainer?: Pick<OutboxDrainerConfig, 'maxAttempts' | 'backoffMs' | 'batchSize' | 'pollIntervalMs'>;
  /** Receivers of drained outbox messages besides the bus (the engine's job dispatcher). */
  publishers?: OutboxPublisher[];
  /** Where background failures (LISTEN connection, drain loop, bus listeners) are reported. */
  onError?: (error: unknown, where: string) => void;
}

export interface Runtime {
  readonly namespace: string;
  readonly clock: Clock;
  /** Every statement the runtime's users run (leases, instances, sweeps, metrics, health, …). */
  readonly store: Store;
  readonly eventLog: EventLog;
  readonly runs: RunRepository;
  readonly bus: RunEventBus;
  readonly drainer: OutboxDrainer;
  /** Adds a receiver of drained outbox messages (the engine's job dispatcher); returns its removal. */
  addPublisher(publisher: OutboxPublisher): () => void;
  /** Starts the drain loop (tests usually step the drainer with `drainOnce` instead). */
  start(): void;
  /** Stops the drain loop after its batch in hand, then closes the LISTEN connection and the pool. */
  close(): Promise<void>;
}

/**
 * The composition root: everything a process (or a test) needs, built from explicit config and released by
 * `close()`. Nothing here is module-level; two runtimes in one process share nothing.
 */
export async function createRuntime(config: RuntimeConfig): Promise<Runtime> {
  const clock = config.clock ?? systemClock;
  const onError = config.onError ?? ((error, where) => console.error(`[runstream:${where}]`, error));
  const channel = appendChannel(config.namespace);
  const connection = connectStore({
    databaseUrl: config.databaseUrl,
    poolSize: config.poolSize ?? defaults.databasePoolSize,
    applicationName: `runstream:${config.namespace}`,
    clock,
    onAppended,
  });
  const { store } = connection;
  const bus = new RunEventBus((error) => onError(error, 'bus'));
  const publishers = new Set<OutboxPublisher>([
    { publish: async (message: OutboxMessage) => bus.publish({ runId: message.runId, lastSeq: message.lastSeq }) },
    ...(config.publishers ?? []),
  ]);
  const drainer = createOutboxDrainer({
    store,
    clock,
    ...config.drainer,
    publisher: {
      async publish(message) {
        for (const publisher of publishers) await publisher.publish(message);
      },
    },
    onError: (error) => onError(error, 'drainer'),
  });
  /**
   * This node's appends by run (the highest seq) until their NOTIFY comes back: hearing its own NOTIFY must not
   * wake the drainer, which `onAppended` woke already if the append wrote an outbox row. Bounded: a NOTIFY that
   * never comes back (lost) leaves an entry behind, and forgetting them only costs an idle drain pass.
   */
  const unheardOwnAppends = new Map<string, number>();
  const listener = createNotificationListener({
    databaseUrl: config.databaseUrl,
    channel,
    onAppended(signal) {
      bus.publish(signal);
      const own = unheardOwnAppends.get(signal.runId);
      if (own !== undefined && signal.lastSeq <= own) {
        if (signal.lastSeq === own) unheardOwnAppends.delete(signal.runId);
        return;
      }
      drainer.wake();
    },
    onReconnected() {
      bus.resync();
      drainer.wake();
    },
    onError: (error) => onError(error, 'listen'),
  });

  const notifier = new AppendNotifier(
    (payload) => store.notify(channel, payload),
    (error) => onError(error, 'notify'),
  );
  /**
   * After every committed append on this node: local subscribers now, the drainer now (when the append left an
   * outbox row), other nodes by NOTIFY.
   */
  function onAppended(signal: RunAppended, outboxed: boolean) {
    bus.publish(signal);
    if (outboxed) drainer.wake();
    if (unheardOwnAppends.size >= MAX_UNHEARD_OWN_APPENDS) unheardOwnAppends.clear();
    unheardOwnAppends.set(signal.runId, signal.lastSeq);
    notifier.notify(signal);
  }

  try {
    await listener.start();
  } catch (error) {
    await listener.close();
    await connection.close();
    throw error;
  }

  let closing: Promise<void> | null = null;
  return {
    namespace: config.namespace,
    clock,
    store,
    eventLog: store.events,
    runs: store.runs,
    bus,
    drainer,
    addPublisher(publisher) {
      publishers.add(publisher);
      return () => publishers.delete(publisher);
    },
    start: () => drainer.start(),
    close() {
      closing ??= (async () => {
        // Each step waits on PostgreSQL; during an outage (a stalled or half-cut connection) it may never answer, so
        // each gets a bound and closing the pool last ends whatever is still waiting.
        await settleWithin(drainer.stop(), CLOSE_STEP_MS, 'drainer', onError);
        await settleWithin(notifier.close(), CLOSE_STEP_MS, 'notify', onError);
        await settleWithin(listener.close(), CLOSE_STEP_MS, 'listen', onError);
        await connection.close();
      })();
      return closing;
    },
  };
}

/** How long each step of `close()` may wait on PostgreSQL before the runtime moves on. */
const CLOSE_STEP_MS = 5_000;

async function settleWithin(work: Promise<void>, ms: number, where: string, onError: (error: unknown, where: string) => void) {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onError(new Error(`closing the ${where} took longer than ${ms} ms: moving on`), where);
      resolve();
    }, ms);
  });
  try {
    await Promise.race([work.catch((error: unknown) => onError(error, where)), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
