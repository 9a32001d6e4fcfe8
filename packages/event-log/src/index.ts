export { createEventLog, toRunEvent } from './event-log.js';
export type { EventLog, EventLogConfig, AppendOptions, AppendResult, ReadOptions, FeedEvent, FeedPage } from './event-log.js';
export { eventWrites, type EventWritesInput } from './event-writes.js';
export { decodeFeedCursor, encodeFeedCursor, feedStart, positionBeforeTransaction, type FeedPosition } from './feed-cursor.js';
export { stateFromRow, type ProjectionRow } from './projection.js';
