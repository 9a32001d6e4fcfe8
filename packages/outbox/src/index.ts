export { AppendNotifier } from './append-notifier.js';
export { RunEventBus, type BusListener, type BusSignal } from './run-event-bus.js';
export {
  createOutboxDrainer,
  exponentialBackoff,
  type OutboxDrainer,
  type OutboxDrainerConfig,
  type OutboxMessage,
  type OutboxPublisher,
  type DrainResult,
} from './outbox-drainer.js';
export {
  createNotificationListener,
  type NotificationListener,
  type NotificationListenerConfig,
} from './notification-listener.js';
