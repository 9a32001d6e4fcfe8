export {
  createOutboxDrainer,
  exponentialBackoff,
  type OutboxDrainer,
  type OutboxDrainerConfig,
  type OutboxMessage,
  type OutboxPublisher,
  type DrainResult,
} from './outbox-drainer.js';
