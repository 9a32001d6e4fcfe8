export { AppendNotifier } from './append-notifier.js';
export { RunEventBus, type BusListener, type BusSignal } from './run-event-bus.js';
export {
  createNotificationListener,
  type NotificationListener,
  type NotificationListenerConfig,
} from './notification-listener.js';
export { appendChannel } from './channel.js';
export {
  decodeRunAppended,
  decodeRunAppendedBatch,
  encodeRunAppended,
  encodeRunAppendedBatches,
  maxNotificationBytes,
} from './codec.js';
