/** The JSON the REST API sends (dates are ISO strings): the dashboard's view of packages/contract. */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const runStatuses: readonly RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export interface Run {
  id: string;
  workflow: string;
  workflowVersion: string | null;
  input: unknown;
  status: RunStatus;
  idempotencyKey: string | null;
  lastSeq: number;
  attempts: number;
  retries: number;
  cancelRequested: boolean;
  output: unknown;
  error: ErrorInfo | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RunEvent {
  runId: string;
  seq: number;
  type: string;
  data: unknown;
  createdAt: string;
}

export interface FeedEvent extends RunEvent {
  cursor: string;
}

export interface Workflow {
  name: string;
  version: string;
  inputSchema: unknown;
  concurrency: number | null;
}

export interface RunPage {
  runs: Run[];
  nextCursor?: string;
}

export interface FieldIssue {
  field: string;
  message: string;
}
