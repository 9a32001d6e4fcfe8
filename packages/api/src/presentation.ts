import { ORPCError } from '@orpc/server';
import type { ErrorInfo, RunEvent } from '@runstream/domain';
import type { EncodedEvent } from '@runstream/store';

/** What a client sees of an event: no idempotency key, and error stacks only when the server allows them. */
export function presentEvent(event: RunEvent, exposeStacks: boolean): RunEvent {
  const { runId, seq, type, data, createdAt } = event;
  // Rebuilt field by field (to drop the key), which loses the type-to-data pairing TypeScript tracks.
  return { runId, seq, type, data: exposeStacks ? data : withoutStack(data), createdAt } as RunEvent;
}

/** `data.error.stack` removed (failed runs and steps record the thrown error). */
export function withoutStack<T>(data: T): T {
  if (data && typeof data === 'object' && 'error' in data) {
    const { error } = data as { error: unknown };
    if (error && typeof error === 'object' && 'stack' in error) {
      const { stack: _stack, ...rest } = error as Record<string, unknown>;
      return { ...data, error: rest };
    }
  }
  return data;
}

/** What a client sees of a run or step: its recorded error without the stack, unless the server allows stacks. */
export function presentRun<T extends { error: ErrorInfo | null }>(run: T, exposeStacks: boolean): T {
  if (!run.error || exposeStacks) return run;
  const { stack: _stack, ...error } = run.error;
  return { ...run, error };
}

/** One Server-Sent Event message as it goes on the wire. */
export function sseFrame(event: string, data: unknown, meta?: { id?: string; retry?: number }): string {
  const retry = meta?.retry === undefined ? '' : `retry: ${meta.retry}\n`;
  const id = meta?.id === undefined ? '' : `id: ${meta.id}\n`;
  // JSON never holds a raw newline, so the payload is one `data:` line.
  return `event: ${event}\n${retry}${id}data: ${JSON.stringify(data)}\n\n`;
}

/** An event read as JSON text, with its SSE frame once some stream needed it (shared by every stream sending it). */
export interface FramedEvent extends EncodedEvent {
  frame?: string;
}

/**
 * The `message` frame of an event (its SSE id is its seq), encoded once per event however many streams send it;
 * with `retry`, a frame of its own (a stream's first, which advertises the reconnection delay).
 */
export function sseEventFrame(event: FramedEvent, retry?: number): string {
  if (retry !== undefined) return `event: message\nretry: ${retry}\nid: ${event.seq}\ndata: ${event.json}\n\n`;
  return (event.frame ??= `event: message\nid: ${event.seq}\ndata: ${event.json}\n\n`);
}

/** How a stream ends when aborted: the `done` event is only for a terminal run, so this is an `error` event. */
export function streamAbortedError(shuttingDown: boolean) {
  return shuttingDown
    ? new ORPCError('SERVICE_UNAVAILABLE', { status: 503, message: 'the server is shutting down; reconnect' })
    : new ORPCError('CLIENT_CLOSED_REQUEST', { status: 499, message: 'the client went away' });
}
