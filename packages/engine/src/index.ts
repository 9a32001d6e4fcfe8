export { createEngine, type Engine, type EngineConfig, type SendSignalInput, type SignalDelivery, type StartRunInput } from './engine.js';
export {
  defineWorkflow,
  ChildRunFailedError,
  NonRetryableError,
  SignalTimeoutError,
  type ChildRun,
  StepTimeoutError,
  type SignalWaitOptions,
  type BackoffOptions,
  type StepContext,
  type StepOptions,
  type WorkflowContext,
  type WorkflowDefinition,
} from './workflow.js';
export { WorkflowRegistry, type WorkflowInfo } from './registry.js';
export type { WorkflowListing, WorkflowVersionListing } from './workflow-listing.js';
export type { Instance } from './instances.js';
export { Histogram, type EngineMetrics, type HistogramSeries, type HistogramSnapshot } from './metrics.js';
export type { ExecutionOutcome, StepOutcome } from './telemetry.js';
export {
  defineSchedule,
  type CatchUpPolicy,
  type ScheduleDefinition,
  type ScheduleSpec,
  type ScheduleView,
} from './schedules.js';
