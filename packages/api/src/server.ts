import { OpenAPIGenerator } from '@orpc/openapi';
import { OpenAPIHandler } from '@orpc/openapi/node';
import { ORPCError } from '@orpc/server';
import { BodyLimitPlugin, RPCHandler } from '@orpc/server/node';
import { ResponseHeadersPlugin } from '@orpc/server/plugins';
import type { StandardHandlerOptions } from '@orpc/server/standard';
import { ZodToJsonSchemaConverter } from '@orpc/zod/zod4';
import { contract } from '@runstream/contract';
import { defaults, parseTraceContext } from '@runstream/domain';
import type { Runtime } from '@runstream/runtime';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createAuthenticator, requestCredential, type ApiAuthConfig, type Credential } from './auth.js';
import { errorBody, RETRY_AFTER_SECONDS, retryAfterHeader, toApiErrorOrFault, type ApiLogger } from './errors.js';
import { healthRoutes, type ApiQueue } from './health.js';
import { createRouteTable, send, type Route } from './http-routing.js';
import { metricsRoute } from './metrics.js';
import { createRequestGuard } from './request-guard.js';
import { createRouter, type ApiContext, type RouterDeps } from './router.js';
import { serveRunStream } from './run-stream-route.js';
import { ReadGate, StreamTracker, type StreamSettings } from './stream-control.js';

export interface ApiServerConfig {
  runtime: Runtime;
  engine: RouterDeps['engine'];
  queue: ApiQueue;
  auth: ApiAuthConfig;
  /** Where faults (5xx) and degraded dependencies are reported. Default `console`. */
  logger?: ApiLogger;
  /** SSE keep-alive comment interval, ms. Default 15 s. */
  keepAliveMs?: number;
  /** Run stream: events per log read (default 200); safety re-read without a bus signal (default 2 s). */
  runStream?: Partial<StreamSettings>;
  /** Feed stream: events per read (default 500); re-read without a signal (default 750 ms: `readAll` lags in-flight transactions). */
  feedStream?: Partial<StreamSettings>;
  /**
   * Log reads all streams may run at once (default 4): followers queue for these instead of crowding the
   * connection pool that appends and other calls need. Keep it below the runtime's pool size.
   */
  maxConcurrentStreamReads?: number;
  /** Bound on each readiness and metrics query, ms. Default 2 s. */
  checkTimeoutMs?: number;
  /** Largest accepted request body, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Origins (`https://host[:port]`) whose pages may write (POST) besides the request's own, e.g. the public
   * origin when a proxy passes another `Host`. Default none.
   */
  allowedOrigins?: readonly string[];
  /** A request's headers must arrive within this, ms (`createHttpServer`; at most `requestTimeoutMs`). Default 10 s. */
  headersTimeoutMs?: number;
  /**
   * A whole request, headers and body, must arrive within this, ms (`createHttpServer`); a response streaming
   * after it (SSE) is not cut. Default 30 s.
   */
  requestTimeoutMs?: number;
  /** Connections `createHttpServer`'s server holds at once; it closes any beyond, unanswered. Default 2,000. */
  maxConnections?: number;
  /** Include `error.stack` of failed runs and steps in responses. Default false. */
  exposeErrorStacks?: boolean;
}

export interface ApiServer {
  /** A `node:http` request listener; serve it with `createHttpServer`, which bounds slow and surplus connections. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * A `node:http` server (not listening yet) for `listener` (default `handle`; a listener that adds routes must
   * pass its other requests to `handle`) with the request deadlines and the connection cap of the config.
   */
  createHttpServer(listener?: RequestListener): Server;
  /** Server-Sent Event streams currently open (run and feed). */
  openStreams(): number;
  /**
   * Ends every open stream (clients get an `error` event and reconnect elsewhere) and answers later requests
   * with 503. Does not close the HTTP server, the engine or the runtime: their owner does.
   */
  close(): Promise<void>;
}

type ClientInterceptor = NonNullable<StandardHandlerOptions<ApiContext>['clientInterceptors']>[number];
type RequestInterceptor = NonNullable<StandardHandlerOptions<ApiContext>['interceptors']>[number];
type RootInterceptor = NonNullable<StandardHandlerOptions<ApiContext>['rootInterceptors']>[number];

/** oRPC routes declare one success status; this applies the one a handler chose in `context.successStatus`. */
const applySuccessStatus: RootInterceptor = async (options) => {
  const successStatus: NonNullable<ApiContext['successStatus']> = {};
  const result = await options.next({ ...options, context: { ...options.context, successStatus } });
  if (!result.matched || successStatus.status === undefined || result.response.status >= 300) return result;
  return { ...result, response: { ...result.response, status: successStatus.status } };
};

/** A route of the API server: every handler also gets the credential the request presents. */
type ApiRoute = Route<{ credential: Credential | undefined }> & {
  /** Served by oRPC's RPC handler: its clients read an error body wrapped as `{ json }`. */
  rpc?: boolean;
};

/** Node joins repeated headers with ", " except a few it keeps as arrays; either way a repeat is one string. */
function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function notFound(res: ServerResponse, method: string, path: string): void {
  send(res, 404, errorBody('NOT_FOUND', 404, `no route ${method} ${path}`));
}

/**
 * The Runstream HTTP API in one request listener: the oRPC contract over RPC (`/rpc`) and REST (`/api`, with
 * `/api/openapi.json`), Server-Sent Event streams, `/health/live`, `/health/ready` and `/metrics`.
 */
export function createApiServer(config: ApiServerConfig): ApiServer {
  const { runtime, queue } = config;
  const logger: ApiLogger = config.logger ?? console;
  const auth = createAuthenticator(config.auth);
  const streams = new StreamTracker();
  const checkTimeoutMs = config.checkTimeoutMs ?? 2_000;
  const readGate = new ReadGate(config.maxConcurrentStreamReads ?? 4);
  const runStream: StreamSettings = { pageSize: 200, recheckMs: 2_000, retryMs: 1_000, ...config.runStream };
  const keepAliveMs = config.keepAliveMs ?? 15_000;
  const exposeErrorStacks = config.exposeErrorStacks ?? false;
  const requestTimeoutMs = config.requestTimeoutMs ?? defaults.httpRequestTimeoutMs;
  // The whole request is due by `requestTimeoutMs`, its headers included (Node refuses a longer headers timeout).
  const headersTimeoutMs = Math.min(config.headersTimeoutMs ?? defaults.httpHeadersTimeoutMs, requestTimeoutMs);
  const maxConnections = config.maxConnections ?? defaults.httpMaxConnections;
  for (const [name, value] of Object.entries({ headersTimeoutMs, requestTimeoutMs, maxConnections })) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer, got ${value}`);
  }
  const maxBodyBytes = config.maxBodyBytes ?? 1 << 20;
  const guard = createRequestGuard({ auth, allowedOrigins: config.allowedOrigins ?? [], maxBodyBytes });
  const router = createRouter({
    runtime,
    engine: config.engine,
    queue,
    auth,
    streams,
    readGate,
    runStream,
    feedStream: { pageSize: 500, recheckMs: 750, retryMs: 1_000, ...config.feedStream },
    exposeErrorStacks,
    healthTimeoutMs: checkTimeoutMs,
    logger,
  });

  // Around each procedure call: domain errors and oRPC's input validation become the contract's typed errors
  // (BAD_REQUEST naming the field, NOT_FOUND, CONFLICT, DEPENDENCY_UNAVAILABLE with `Retry-After`); anything
  // else is a fault, logged and hidden.
  const mapProcedureErrors: ClientInterceptor = async ({ next, path, context }) => {
    try {
      return await next();
    } catch (error) {
      const mapped = toApiErrorOrFault(error, logger, `procedure ${path.join('.')}`);
      const retryAfter = retryAfterHeader(mapped);
      if (retryAfter) context.resHeaders?.set('retry-after', retryAfter);
      throw mapped;
    }
  };
  // Around the whole request: an error that is not an ORPCError here was thrown decoding the request (every
  // procedure error was converted above), i.e. a malformed body.
  const mapMalformedRequests: RequestInterceptor = async ({ next }) => {
    try {
      return await next();
    } catch (error) {
      if (error instanceof ORPCError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new ORPCError('BAD_REQUEST', {
        status: 400,
        message: `malformed request: ${message}`,
        data: { field: '(body)', issues: [{ field: '(body)', message }] },
        cause: error,
      });
    }
  };

  // A fresh object per handler: plugins register their interceptors by pushing onto these arrays.
  const handlerOptions = () => ({
    eventIteratorKeepAliveEnabled: true,
    eventIteratorKeepAliveInterval: keepAliveMs,
    eventIteratorKeepAliveComment: 'keep-alive',
    plugins: [new ResponseHeadersPlugin<ApiContext>(), new BodyLimitPlugin<ApiContext>({ maxBodySize: maxBodyBytes })],
    clientInterceptors: [mapProcedureErrors],
    interceptors: [mapMalformedRequests],
  });
  const rpc = new RPCHandler<ApiContext>(router, handlerOptions());
  const openapi = new OpenAPIHandler<ApiContext>(router, { ...handlerOptions(), rootInterceptors: [applySuccessStatus] });

  let spec: Promise<string> | null = null;
  const openapiDocument = () =>
    (spec ??= new OpenAPIGenerator({ schemaConverters: [new ZodToJsonSchemaConverter()] })
      .generate(contract, {
        info: { title: 'Runstream API', version: '0.1.0' },
        servers: [{ url: '/api' }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: auth.open ? [] : [{ bearer: [] }],
      })
      .then((document) => JSON.stringify(document))
      .catch((error) => {
        spec = null;
        throw error;
      }));

  let closed = false;

  /** oRPC's handler for its prefix; a path under the prefix that names no procedure is a 404 like any other. */
  const orpcRoute =
    (handler: RPCHandler<ApiContext> | OpenAPIHandler<ApiContext>, prefix: `/${string}`): ApiRoute['handle'] =>
    async ({ req, res, url, credential }) => {
      const trace = parseTraceContext(singleHeader(req.headers.traceparent), singleHeader(req.headers.tracestate));
      if (!(await handler.handle(req, res, { prefix, context: { credential, trace } })).matched) notFound(res, req.method ?? 'GET', url.pathname);
    };

  // Every HTTP route of the API, matched in order (the direct run stream before oRPC's `/api` routes).
  const routes = createRouteTable<ApiRoute>([
    ...healthRoutes({ runtime, queue, timeoutMs: checkTimeoutMs, logger, closing: () => closed }),
    // The guard turned away requests without a valid credential; a read token gets 403 here.
    metricsRoute(auth, () => ({
      runtime,
      queue,
      openStreams: (kind) => streams.count(kind),
      histograms: config.engine.metrics.snapshot(),
      logger,
      timeoutMs: checkTimeoutMs,
    })),
    { methods: ['GET'], path: '/api/openapi.json', access: 'public', handle: async ({ res }) => send(res, 200, await openapiDocument()) },
    // `:id` is not decoded: a run id is a UUID, and anything else fails its validation as it stands.
    {
      methods: ['GET'],
      path: '/api/runs/:id/stream',
      handle: ({ req, res, url, params, credential }) =>
        serveRunStream(req, res, { id: params.id!, url, credential }, {
          runtime,
          auth,
          streams,
          readGate,
          settings: runStream,
          exposeErrorStacks,
          keepAliveMs,
          logger,
        }),
    },
    // Its input may carry a read token (clients that cannot send headers).
    { methods: ['POST'], path: '/rpc/runs/stream', access: 'credential-or-body', rpc: true, handle: orpcRoute(rpc, '/rpc') },
    { methods: '*', path: '/rpc/*', rpc: true, handle: orpcRoute(rpc, '/rpc') },
    { methods: '*', path: '/api/*', handle: orpcRoute(openapi, '/api') },
  ]);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://runstream.invalid');
    const method = req.method ?? 'GET';
    const match = routes.match(method, url.pathname);
    if (closed && !match?.route.servedWhileClosing) {
      return send(res, 503, errorBody('SERVICE_UNAVAILABLE', 503, 'the server is shutting down'), undefined, String(RETRY_AFTER_SECONDS));
    }
    const credential = requestCredential(req.headers, url);
    const refused = guard(req, match && (match.route.access ?? 'credential'), credential);
    if (refused) {
      // Not reading a body it was sent: the connection closes after the answer instead.
      if (refused.closeConnection) res.setHeader('connection', 'close');
      return send(res, refused.status, JSON.stringify(match?.route.rpc ? { json: refused.error } : refused.error));
    }
    if (!match) return notFound(res, method, url.pathname);
    await match.route.handle({ req, res, url, params: match.params, credential });
  }

  const api: ApiServer = {
    async handle(req, res) {
      try {
        await route(req, res);
      } catch (error) {
        const fault = toApiErrorOrFault(error, logger, `${req.method} ${req.url?.split('?')[0]}`);
        try {
          if (!res.headersSent) send(res, fault.status, errorBody(fault.code, fault.status, fault.message, fault.data), undefined, retryAfterHeader(fault));
          else res.destroy();
        } catch {
          res.destroy();
        }
      }
    },
    createHttpServer(listener = api.handle) {
      // Node checks the deadlines every `connectionsCheckingInterval`: often enough to keep them close to exact.
      const connectionsCheckingInterval = Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));
      const server = createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, connectionsCheckingInterval }, listener);
      server.maxConnections = maxConnections;
      return server;
    },
    openStreams: () => streams.count(),
    async close() {
      closed = true;
      await streams.closeAll(5_000);
    },
  };
  return api;
}
