import { implement, ORPCError } from '@orpc/server';
import { contract } from '@runstream/contract';
import { InvalidCursorError, RunNotFoundError, UnknownWorkflowError, type ErrorInfo, type TraceContext } from '@runstream/domain';
import type { Engine } from '@runstream/engine';
import { decodeFeedCursor } from '@runstream/store';
import type { Runtime } from '@runstream/runtime';
import { assertCanRead, forbidden, unauthorizedMessages, type Authenticator, type Credential } from './auth.js';
import { badRequest, type ApiLogger } from './errors.js';
import { currentFeedCursor, feedStream } from './feed-stream.js';
import { checkHealth, type ApiQueue } from './health.js';
import { presentEvent, presentRun } from './presentation.js';
import { runEventStream, seqAfterLastEventId } from './run-stream.js';
import type { ReadGate, StreamSettings, StreamTracker } from './stream-control.js';

/**
 * What the HTTP layer hands every call: the presented credential; `resHeaders` comes from ResponseHeadersPlugin;
 * `successStatus` (REST only) lets a handler answer with another 2xx than its route declares.
 */
export interface ApiContext {
  credential: Credential | undefined;
  /** The request's valid W3C `traceparent` (and `tracestate`): a run it creates joins that trace. */
  trace?: TraceContext | undefined;
  resHeaders?: Headers;
  successStatus?: { status?: number };
}

export interface RouterDeps {
  runtime: Runtime;
  engine: Pick<
    Engine,
    | 'startRun'
    | 'cancelRun'
    | 'retryRun'
    | 'sendSignal'
    | 'steps'
    | 'listWorkflows'
    | 'instances'
    | 'metrics'
    | 'createSchedule'
    | 'listSchedules'
    | 'getSchedule'
    | 'pauseSchedule'
    | 'resumeSchedule'
    | 'deleteSchedule'
  >;
  queue: ApiQueue;
  auth: Authenticator;
  streams: StreamTracker;
  readGate: ReadGate;
  runStream: StreamSettings;
  feedStream: StreamSettings;
  exposeErrorStacks: boolean;
  healthTimeoutMs: number;
  logger: ApiLogger;
}

/** Procedures a per-run read token may call (for its own run only). */
const readTokenProcedures = new Set(['runs.get', 'runs.events', 'runs.stream']);

function sseHeaders(resHeaders: Headers | undefined): void {
  resHeaders?.set('cache-control', 'no-cache');
  resHeaders?.set('x-accel-buffering', 'no');
}

export function createRouter(deps: RouterDeps) {
  const { runtime, engine, auth, streams, logger } = deps;
  const os = implement(contract).$context<ApiContext>();

  // Implementer-level middleware runs before input validation: an unauthenticated call is a 401 whatever it sent.
  const authed = os.use(async ({ context, path, next }, input) => {
    // The raw input (not validated yet) may carry the contract's `token` field: a read token sent in the body
    // (RPC) rather than in the URL. A header or `?token=` takes precedence.
    const inputToken = (input as { token?: unknown } | undefined)?.token;
    const credential = context.credential ?? (typeof inputToken === 'string' ? { token: inputToken, from: 'parameter' as const } : undefined);
    const result = auth.authenticate(credential);
    if (!result.ok) throw new ORPCError('UNAUTHORIZED', { status: 401, message: unauthorizedMessages[result.reason] });
    if (result.principal.kind === 'read' && !readTokenProcedures.has(path.join('.'))) {
      throw forbidden('a read token only grants reading and streaming its run');
    }
    return next({ context: { principal: result.principal } });
  });

  const present = <T extends { error: ErrorInfo | null }>(run: T): T => presentRun(run, deps.exposeErrorStacks);

  async function requireRun(id: string) {
    const run = await runtime.runs.get(id);
    if (!run) throw new RunNotFoundError(id);
    return run;
  }

  return os.router({
    runs: {
      create: authed.runs.create.handler(async ({ input, context, errors }) => {
        const { run, created } = await engine
          .startRun({
            workflow: input.workflow,
            input: input.input,
            ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
            ...(context.trace ? { trace: context.trace } : {}),
            ...(input.after === undefined ? {} : { after: input.after }),
          })
          .catch((error: unknown) => {
            // The run's workflow is a resource: one nobody registered is not found (a schedule's is a bad field).
            if (error instanceof UnknownWorkflowError) {
              throw errors.UNKNOWN_WORKFLOW({ message: error.message, data: { workflow: error.workflow, field: error.field }, cause: error });
            }
            throw error;
          });
        // A repeat (same key, workflow and input) created nothing: 200 with the run, not the route's 201.
        if (!created && context.successStatus) context.successStatus.status = 200;
        return { run: present(run), created };
      }),

      list: authed.runs.list.handler(async ({ input }) => {
        const page = await runtime.runs.list(input);
        return { ...page, runs: page.runs.map(present) };
      }),

      get: authed.runs.get.handler(async ({ input, context }) => {
        assertCanRead(context.principal, input.id);
        const run = await requireRun(input.id);
        const steps = await engine.steps(input.id);
        return { ...present(run), steps: steps.map(present) };
      }),

      cancel: authed.runs.cancel.handler(async ({ input }) => present(await engine.cancelRun(input.id))),

      retry: authed.runs.retry.handler(async ({ input }) => present(await engine.retryRun(input.id))),

      children: authed.runs.children.handler(async ({ input }) => {
        await requireRun(input.id);
        const page = await runtime.runs.list({
          parentRunId: input.id,
          limit: input.limit,
          ...(input.cursor === undefined ? {} : { cursor: input.cursor }),
        });
        return { ...page, runs: page.runs.map(present) };
      }),

      signal: authed.runs.signal.handler(async ({ input }) => {
        const { run, seq } = await engine.sendSignal(input.id, input.name, {
          data: input.data,
          ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
        });
        return { run: present(run), delivered: seq !== null, seq };
      }),

      events: authed.runs.events.handler(async ({ input, context }) => {
        assertCanRead(context.principal, input.id);
        const events = await runtime.eventLog.read(input.id, { fromSeq: input.fromSeq, limit: input.limit });
        if (events.length === 0) await requireRun(input.id);
        const last = events.at(-1);
        return {
          events: events.map((event) => presentEvent(event, deps.exposeErrorStacks)),
          // Present when the page is full: there may be more from this seq on.
          ...(last && events.length === input.limit ? { nextSeq: last.seq + 1 } : {}),
        };
      }),

      // A plain async handler returning a generator: the checks below answer with a real HTTP status (404, 403,
      // 400) before the event stream starts, and the SSE headers reach the response.
      stream: authed.runs.stream.handler(async ({ input, context, lastEventId, signal }) => {
        assertCanRead(context.principal, input.id);
        const fromSeq = lastEventId !== undefined ? seqAfterLastEventId(lastEventId) : input.fromSeq;
        await requireRun(input.id);
        sseHeaders(context.resHeaders);
        return runEventStream(
          runtime,
          { runId: input.id, fromSeq, settings: deps.runStream, exposeStacks: deps.exposeErrorStacks },
          { open: () => streams.begin('run', signal), shuttingDown: () => streams.shuttingDown, gate: deps.readGate, logger },
        );
      }),

      token: authed.runs.token.handler(async ({ input }) => {
        await requireRun(input.id);
        return auth.mint(input.id);
      }),
    },

    feed: {
      stream: authed.feed.stream.handler(async ({ input, context, lastEventId, signal }) => {
        const [after, field] = lastEventId !== undefined ? [lastEventId.trim(), 'Last-Event-ID'] : [input.after, 'after'];
        if (after !== undefined) {
          try {
            decodeFeedCursor(after);
          } catch (error) {
            if (error instanceof InvalidCursorError) throw badRequest([{ field, message: 'must be a feed cursor (an SSE id of this feed)' }]);
            throw error;
          }
        }
        // Fixed before the response starts: once a client sees the stream open, whatever commits next is in it.
        const start = after ?? (await currentFeedCursor(runtime));
        sseHeaders(context.resHeaders);
        return feedStream(
          runtime,
          { after: start, settings: deps.feedStream, exposeStacks: deps.exposeErrorStacks },
          { open: () => streams.begin('feed', signal), shuttingDown: () => streams.shuttingDown, gate: deps.readGate, logger },
        );
      }),
    },

    workflows: {
      list: authed.workflows.list.handler(() => engine.listWorkflows()),
    },

    schedules: {
      create: authed.schedules.create.handler(({ input }) => engine.createSchedule(input)),
      list: authed.schedules.list.handler(() => engine.listSchedules()),
      get: authed.schedules.get.handler(({ input }) => engine.getSchedule(input.id)),
      pause: authed.schedules.pause.handler(({ input }) => engine.pauseSchedule(input.id)),
      resume: authed.schedules.resume.handler(({ input }) => engine.resumeSchedule(input.id)),
      delete: authed.schedules.delete.handler(async ({ input }) => {
        await engine.deleteSchedule(input.id);
        return { id: input.id, deleted: true as const };
      }),
    },

    instances: {
      list: authed.instances.list.handler(() => engine.instances()),
    },

    health: authed.health.handler(() => checkHealth(runtime, deps.queue, deps.healthTimeoutMs, logger)),
  });
}

export type ApiRouter = ReturnType<typeof createRouter>;
