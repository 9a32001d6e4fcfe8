export { createRunstreamClient, type RunstreamClient, type RunstreamClientOptions } from './client.js';
export {
  followRun,
  followFeed,
  compareFeedCursors,
  type FollowRunOptions,
  type FollowRunResult,
  type FollowFeedOptions,
  type OpenRunStream,
  type OpenFeedStream,
  type RunEvent,
  type FeedEvent,
  type RunStatus,
  type StreamEnd,
} from './follow.js';
export {
  backoffDelay,
  defaultBackoff,
  finalErrorCodes,
  isFinalError,
  StreamEndedError,
  StreamGapError,
  type BackoffOptions,
} from './follow-stream.js';
export { ORPCError, isDefinedError, safe } from '@orpc/client';
