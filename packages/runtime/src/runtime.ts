import { defaults, systemClock, type Clock, type RunAppended } from '@runstream/domain';
import { connectDatabase, type Database } from '@runstream/db';
import { createEventLog, type EventLog } from '@runstream/event-log';
import {
  AppendNotifier,
  createNotificationListener,
  createOutboxDrainer,
  RunEventBus,
  type OutboxDrainer,
  type OutboxDrainerConfig,
  type OutboxMessage,
  type OutboxPublisher,
} from '@runstream/outbox';
import { createRunRepository, type RunRepository } from '@runstream/runs';
import { sql } from 'drizzle-orm';

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
  readonly db: Database;
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

/** NOTIFY channel for a namespace's appends. */
export function appendChannel(namespace: string): string {
  return `${namespace}.appended`;
}

/**
 * The composition root: everything a process (or a test) needs, built from explicit config and released by
 * `close()`. Nothing here is module-level; two runtimes in one process share nothing.
 */
export async function createRuntime(config: RuntimeConfig): Promise<Runtime> {
  const clock = config.clock ?? systemClock;
  const onError = config.onError ?? ((error, where) => console.error(`[runstream:${where}]`, error));
  const channel = appendChannel(config.namespace);
  const database = connectDatabase(config.databaseUrl, {
    max: config.poolSize ?? defaults.databasePoolSize,
    applicationName: `runstream:${config.namespace}`,
  });
  const { db } = database;
  const bus = new RunEventBus((error) => onError(error, 'bus'));
  const publishers = new Set<OutboxPublisher>([
    { publish: async (message: OutboxMessage) => bus.publish({ runId: message.runId, lastSeq: message.lastSeq }) },
    ...(config.publishers ?? []),
  ]);
  const drainer = createOutboxDrainer({
    db,
    clock,
    ...config.drainer,
    publisher: {
      async publish(message) {
        for (const publisher of publishers) await publisher.publish(message);
      },
    },
    onError: (error) => onError(error, 'drainer'),
  });
  const listener = createNotificationListener({
    databaseUrl: config.databaseUrl,
    channel,
    onAppended(signal) {
      bus.publish(signal);
      drainer.wake();
    },
    onReconnected() {
      bus.resync();
      drainer.wake();
    },
    onError: (error) => onError(error, 'listen'),
  });

  const notifier = new AppendNotifier(
    async (payload) => {
      await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    },
    (error) => onError(error, 'notify'),
  );
  /** After every committed append on this node: local subscribers now, the drainer now, other nodes by NOTIFY. */
  const onAppended = (signal: RunAppended) => {
    bus.publish(signal);
    drainer.wake();
    notifier.notify(signal);
  };

  try {
    await listener.start();
  } catch (error) {
    await listener.close();
    await database.close();
    throw error;
  }

  let closing: Promise<void> | null = null;
  return {
    namespace: config.namespace,
    clock,
    db,
    eventLog: createEventLog({ db, clock, onAppended }),
    runs: createRunRepository({ db, clock, onAppended }),
    bus,
    drainer,
    addPublisher(publisher) {
      publishers.add(publisher);
      return () => publishers.delete(publisher);
    },
    start: () => drainer.start(),
    close() {
      closing ??= (async () => {
        await drainer.stop();
        await notifier.close();
        await listener.close();
        await database.close();
      })();
      return closing;
    },
  };
}
