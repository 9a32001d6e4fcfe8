/**
 * The JSON the REST API sends: packages/contract's schemas as they arrive over the wire (dates as ISO strings).
 * Type-only imports from the contract: nothing of it or zod reaches the bundle.
 */
import type {
  errorInfoSchema,
  feedEventSchema,
  runEventSchema,
  runSchema,
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

/** Statuses and the pure folds are domain's, bundled into the page. */
export { runStatuses, type RunStatus } from '@runstream/domain';

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
