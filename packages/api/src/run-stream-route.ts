import { ORPCError } from '@orpc/server';
import { inputs } from '@runstream/contract';
import { fieldPath, RunNotFoundError } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { assertCanRead, unauthorizedMessages, type Authenticator, type Credential } from './auth.js';
import { badRequest, retryAfterHeader, toApiErrorOrFault, type ApiLogger, type FieldIssue } from './errors.js';
import { sseEventFrame, sseFrame } from './presentation.js';
import { runEventPages, seqAfterLastEventId } from './run-stream.js';
import type { ReadGate, StreamSettings, StreamTracker } from './stream-control.js';

export interface RunStreamRouteDeps {
  runtime: Pick<Runtime, 'bus' | 'eventLog' | 'runs'>;
  auth: Authenticator;
  streams: StreamTracker;
  readGate: ReadGate;
  settings: StreamSettings;
  exposeErrorStacks: boolean;
  keepAliveMs: number;
  logger: ApiLogger;
}

/** Frames queued while the stream produces events in one go are written together once it pauses, or at this size. */
const FLUSH_BYTES = 64 * 1024;

/** A contract error as oRPC's OpenAPI handler writes it (`defined`: the contract declares this code). */
function contractError(error: ORPCError<string, unknown>): ORPCError<string, unknown> {
  return new ORPCError(error.code, { defined: true, status: error.status, message: error.message, data: error.data });
}

function sendError(res: ServerResponse, error: ORPCError<string, unknown>): void {
  const retryAfter = retryAfterHeader(error);
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...(retryAfter ? { 'retry-after': retryAfter } : {}),
  });
  res.end(JSON.stringify(error.toJSON()));
}

/**
 * `GET /api/runs/{id}/stream`, written straight to the socket. It serves the contract's `runs.stream` (same input,
 * checks, errors and SSE messages as oRPC's OpenAPI handler would), but oRPC's path costs each event a trip
 * through web streams, a serializer and its own socket write, and each open stream ~46 KB of heap: here events
 * come from the log as JSON text (no parse and re-encode), each event's frame is encoded once for every stream
 * sending it, a page read together leaves in one write, and an open stream holds its generator and its socket.
 * The typed client's `/rpc` route still goes through oRPC.
 */
export async function serveRunStream(
  req: IncomingMessage,
  res: ServerResponse,
  request: { id: string; url: URL; credential: Credential | undefined },
  deps: RunStreamRouteDeps,
): Promise<void> {
  // A disconnect aborts the stream (so does the server closing, through the tracker). Listened for before any
  // await: a client may leave while the checks below run.
  const disconnected = new AbortController();
  res.once('close', () => disconnected.abort());

  // Authentication first: an unauthenticated call is a 401 whatever it sent.
  const authenticated = deps.auth.authenticate(request.credential);
  if (!authenticated.ok) {
    return sendError(res, contractError(new ORPCError('UNAUTHORIZED', { status: 401, message: unauthorizedMessages[authenticated.reason] })));
  }
  const fromSeqParam = request.url.searchParams.get('fromSeq');
  const parsed = inputs.streamRun.safeParse({ id: request.id, ...(fromSeqParam === null ? {} : { fromSeq: fromSeqParam }) });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      field: fieldPath('', issue.path),
      message: issue.message,
    })) as [FieldIssue, ...FieldIssue[]];
    return sendError(res, contractError(badRequest(issues, `invalid input: ${issues[0].field}: ${issues[0].message}`)));
  }
  const { id: runId } = parsed.data;
  let fromSeq = parsed.data.fromSeq;
  try {
    assertCanRead(authenticated.principal, runId);
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string') fromSeq = seqAfterLastEventId(lastEventId);
    if (!(await deps.runtime.runs.get(runId))) throw new RunNotFoundError(runId);
  } catch (error) {
    const mapped = toApiErrorOrFault(error, deps.logger, `stream of run ${runId}`);
    return sendError(res, mapped.status < 500 ? contractError(mapped) : mapped);
  }

  if (disconnected.signal.aborted) return;
  const pages = runEventPages(
    deps.runtime,
    { runId, fromSeq, settings: deps.settings, exposeStacks: deps.exposeErrorStacks },
    {
      open: () => deps.streams.begin('run', disconnected.signal),
      shuttingDown: () => deps.streams.shuttingDown,
      gate: deps.readGate,
      logger: deps.logger,
    },
  );

  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  res.flushHeaders();
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), deps.keepAliveMs);

  let pending = '';
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (pending === '' || res.destroyed || res.writableEnded) return;
    const chunk = pending;
    pending = '';
    res.write(chunk);
  };
  /** Resolves once the socket takes more (a slow client is served at its pace) or is gone. */
  const writable = () =>
    res.writableNeedDrain && !res.destroyed
      ? new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        })
      : undefined;

  let advertisedRetry = false;
  try {
    for (;;) {
      const next = await pages.next();
      if (next.done) {
        pending += sseFrame('done', next.value);
        break;
      }
      for (const event of next.value) {
        // The stream's first frame advertises the reconnection delay; every other one is shared between streams.
        pending += sseEventFrame(event, advertisedRetry ? undefined : deps.settings.retryMs);
        advertisedRetry = true;
      }
      if (pending.length >= FLUSH_BYTES) flush();
      else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
      const drained = writable();
      if (drained) await drained;
    }
  } catch (error) {
    // The generator ends every abort with an error: for a client that left there is nobody to tell.
    if (!disconnected.signal.aborted) {
      const mapped = error instanceof ORPCError ? error : toApiErrorOrFault(error, deps.logger, `stream of run ${runId}`);
      pending += sseFrame('error', mapped.toJSON());
    }
  } finally {
    clearInterval(keepAlive);
    if (!res.destroyed) {
      flush();
      res.end();
    }
    await pages.return(undefined as never);
  }
}
