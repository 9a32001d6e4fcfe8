import type { RunAppended } from '@runstream/domain';
import { decodeRunAppendedBatch } from './codec.js';
import createSubscriber from 'pg-listen';

export interface NotificationListenerConfig {
  databaseUrl: string;
  channel: string;
  onAppended(signal: RunAppended): void;
  /** After the connection was lost and re-established: notifications sent meanwhile are gone, catch up. */
  onReconnected(): void;
  onError(error: Error): void;
  /** How often to probe an idle connection that may have died silently. Default 10 s. */
  probeIntervalMs?: number;
}

export interface NotificationListener {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One LISTEN connection per runtime (however many subscribers), kept alive by pg-listen. It reconnects forever
 * with capped backoff; because NOTIFYs sent while it was away are lost, `onReconnected` tells the owner to
 * catch up from the database.
 */
export function createNotificationListener(config: NotificationListenerConfig): NotificationListener {
  let closed = false;
  let started = false;
  const subscriber = createSubscriber(
    { connectionString: config.databaseUrl, application_name: 'runstream-listen' },
    {
      retryLimit: Infinity,
      retryTimeout: Infinity,
      // pg-listen keeps retrying after close(); throwing here is the only way to end its loop.
      retryInterval: (attempt: number) => {
        if (closed) throw new Error('notification listener closed');
        return Math.min(100 * 2 ** attempt, 5_000);
      },
      paranoidChecking: config.probeIntervalMs ?? 10_000,
      parse: (payload: string) => payload,
    },
  );

  subscriber.events.on('error', (error: Error) => {
    if (!closed) config.onError(error);
  });
  subscriber.events.on('connected', () => {
    if (closed) {
      void subscriber.close();
      return;
    }
    if (started) config.onReconnected();
  });
  subscriber.notifications.on(config.channel, (payload: unknown) => {
    if (typeof payload !== 'string') return;
    for (const signal of decodeRunAppendedBatch(payload)) config.onAppended(signal);
  });

  return {
    async start() {
      await subscriber.connect();
      await subscriber.listenTo(config.channel);
      started = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      await subscriber.close().catch(() => {});
    },
  };
}
