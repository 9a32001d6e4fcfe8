export {
  createRunstream,
  redactUrl,
  type AnyWorkflow,
  type ApiSettings,
  type EmbeddedPostgresSettings,
  type HealthReport,
  type RunHandle,
  type Runstream,
  type RunstreamOptions,
  type StartOptions,
} from './runstream.js';
export type { FollowOptions } from './follow.js';
export type { FetchHandler, MountOptions, NodeHandler } from './http.js';
export { consoleLogger, type RunstreamLogger } from './logger.js';
export { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres.js';
export {
  ChildRunFailedError,
  defineWorkflow,
  NonRetryableError,
  SignalTimeoutError,
  StepTimeoutError,
  type ChildRun,
  type SignalWaitOptions,
  type StepContext,
  type StepOptions,
  type WorkflowContext,
  type WorkflowDefinition,
  type WorkflowInfo,
} from '@runstream/engine';
export {
  RunCancelledError,
  RunFailedError,
  RunNotFoundError,
  RunstreamError,
  UnknownWorkflowError,
  ValidationError,
  type ErrorInfo,
  type RunEvent,
  type RunStatus,
} from '@runstream/domain';
export type { Run, RunPage, ListRunsFilter } from '@runstream/store';
export type { WorkflowInput, WorkflowOutput } from '@runstream/client';
export { z } from 'zod';
export { loadWorkflowModule, WorkflowModuleError, type LoadedWorkflows } from './workflow-module.js';
