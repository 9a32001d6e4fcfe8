/**
 * The JSON the REST API sends: packages/contract's schemas as they arrive over the wire (dates as ISO strings).
 * Type-only imports: nothing of the contract or zod reaches the bundle.
 */
import type {
  errorInfoSchema,
  feedEventSchema,
  runEventSchema,
  runSchema,
  runStatusSchema,
  workflowSchema,
} from '@runstream/contract';
import type { z } from 'zod';

/** A value as `JSON.stringify` sends it: dates become ISO strings. */
type Wire<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

export type RunStatus = z.infer<typeof runStatusSchema>;
export const runStatuses: readonly RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export type ErrorInfo = Wire<z.infer<typeof errorInfoSchema>>;
export type Run = Wire<z.infer<typeof runSchema>>;
export type RunEvent = Wire<z.infer<typeof runEventSchema>>;
export type FeedEvent = Wire<z.infer<typeof feedEventSchema>>;
export type Workflow = Wire<z.infer<typeof workflowSchema>>;

export interface RunPage {
  runs: Run[];
  nextCursor?: string;
}

export interface FieldIssue {
  field: string;
  message: string;
}
