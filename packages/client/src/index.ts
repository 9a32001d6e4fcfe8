export { createRunstreamClient, type RunstreamClient, type RunstreamClientOptions } from './client.js';
export { createClient, type ClientFollowOptions, type ClientRunHandle, type TypedClient } from './typed-client.js';
export { RunCancelledError, RunFailedError } from '@runstream/domain';
export {
  followRun,
  followFeed,
  compareFeedCursors,
  type FollowRunOptions,
  type FollowRunResult,
  type FollowFeedOptions,
  type OpenRunStream,
  type OpenFeedStream,
} from './follow.js';
export type { Run, RunStatus, RunWithSteps, Step, RunEvent, FeedEvent, StreamEnd, Workflow, Schedule } from './types.js';
export {
  reconnectDelay,
  defaultBackoff,
  finalErrorCodes,
  isFinalError,
  retryAfterMs,
  StreamEndedError,
  StreamGapError,
  type BackoffOptions,
} from './follow-stream.js';
export { ORPCError, isDefinedError, safe } from '@orpc/client';
export type {
  WorkflowCollection,
  WorkflowInput,
  WorkflowNamed,
  WorkflowOutput,
  WorkflowShape,
  WorkflowsIn,
} from './workflow-types.js';
