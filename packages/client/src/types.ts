import type { z } from 'zod';
import type {
  feedEventSchema,
  runEventSchema,
  runSchema,
  runStatusSchema,
  scheduleSchema,
  stepSchema,
  streamEndSchema,
  workflowSchema,
} from '@runstream/contract';

export type Run = z.infer<typeof runSchema>;
export type RunStatus = z.infer<typeof runStatusSchema>;
export type Step = z.infer<typeof stepSchema>;
export type RunWithSteps = Run & { steps: Step[] };
export type RunEvent = z.infer<typeof runEventSchema>;
export type FeedEvent = z.infer<typeof feedEventSchema>;
/** How a run's stream ends: its terminal status and last seq. */
export type StreamEnd = z.infer<typeof streamEndSchema>;
export type Workflow = z.infer<typeof workflowSchema>;
export type Schedule = z.infer<typeof scheduleSchema>;
