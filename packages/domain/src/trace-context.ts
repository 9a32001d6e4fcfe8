import { z } from 'zod';

/**
 * The W3C Trace Context of the request that created a run: recorded in its `run.created` event, so every
 * execution of the run, on any worker, continues that trace. Plain strings: the domain knows the header format,
 * not any tracing library.
 */
export interface TraceContext {
  /** `00-<trace id>-<parent span id>-<flags>`, lower-case hex (version 00, whatever version was received). */
  traceparent: string;
  tracestate?: string;
}

/** W3C's limit for a `tracestate` a vendor must propagate; a longer one is dropped rather than cut mid-entry. */
const TRACESTATE_MAX_LENGTH = 512;

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const traceparentV00Pattern = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const traceContextSchema = z.object({
  traceparent: z.string().regex(traceparentV00Pattern, 'must be a W3C traceparent (version 00)'),
  tracestate: z.string().min(1).max(TRACESTATE_MAX_LENGTH).optional(),
});

/**
 * Reads the `traceparent` and `tracestate` headers as W3C Trace Context says a receiver must: an invalid
 * traceparent (wrong shape, upper-case hex, version ff, an all-zero id, extra fields on version 00) is ignored,
 * and so is the tracestate without it. Returns undefined when there is nothing valid to continue.
 */
export function parseTraceContext(traceparent: string | undefined, tracestate?: string): TraceContext | undefined {
  const match = traceparent?.trim().match(traceparentPattern);
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  const state = tracestate?.trim();
  const keepState = state && state.length <= TRACESTATE_MAX_LENGTH && /^[\x20-\x7e]+$/.test(state);
  return { traceparent: `00-${traceId}-${parentId}-${flags}`, ...(keepState ? { tracestate: state } : {}) };
}
