export type { EnqueueOptions, JobHandler, JobQueue, JobTraceContext, RunJob, WakeReason } from './job-queue.js';
export { createBullQueue, queueSchema, type BullQueueConfig, type QueueBackendConfig } from './bull-queue.js';
