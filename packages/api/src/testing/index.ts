/**
 * The API's test fixtures (`@runstream/api/testing`), for its own tests and those of the client and the CLI: a
 * real HTTP server on 127.0.0.1, an ephemeral port, over a test engine with the demo workflows; clients for it;
 * fact waiting.
 */
import { createORPCClient } from '@orpc/client';
import { RPCLink } from '@orpc/client/fetch';
import type { ContractRouterClient } from '@orpc/contract';
import type { contract } from '@runstream/contract';
import { demoWorkflows } from '@runstream/demo-workflows';
import { createTestEngine, type TestEngine, type TestEngineOptions } from '@runstream/engine/testing';
import type { TestBackend } from '@runstream/testkit';
import { EventSource } from 'eventsource';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createApiServer, type ApiServer, type ApiServerConfig } from '../index.js';

export type ApiClient = ContractRouterClient<typeof contract>;

export const TEST_SECRET = 'test-read-token-secret-0123456789';

/** A real API on a real HTTP server over a test engine (see `serveTestApi`). */
export interface TestApiServer {
  api: ApiServer;
  server: Server;
  base: string;
  port: number;
  /** Typed oRPC client over `/rpc` (with the first configured token, if any). */
  client: ApiClient;
  /** Every request the HTTP server received: method, url and headers (for Last-Event-ID checks). */
  requests: { method: string; url: string; headers: IncomingHttpHeaders }[];
  /** What the API logged as errors (faults): tests assert there were none. */
  faults: unknown[][];
  /** Drops every open connection from the server side (a network failure, as the client sees it). */
  dropConnections(): void;
  /**
   * Stops the HTTP server abruptly: every connection dropped, the API not told first (a crash, as clients see
   * it). The engine stays.
   */
  kill(): Promise<void>;
  /** Closes the API (open streams end with an error event), then the HTTP server; the engine stays. */
  close(): Promise<void>;
}

export type TestApiConfig = Partial<Omit<ApiServerConfig, 'runtime' | 'engine' | 'queue'>>;

export interface TestApi extends TestEngine, Omit<TestApiServer, 'kill' | 'close'> {
  /** Closes the API, the HTTP server and the engine. */
  close(): Promise<void>;
}

export interface TestApiOptions {
  backend: TestBackend;
  /** Start the engine's worker (default true); false leaves runs queued unless the test writes to them. */
  worker?: boolean;
  api?: TestApiConfig;
  /** Engine settings beside the demo workflows (a tracer provider, timings). */
  engine?: Omit<TestEngineOptions, 'backend' | 'worker' | 'workflows'>;
}

export function clientFor(base: string, token?: string): ApiClient {
  return createORPCClient(
    new RPCLink({ url: `${base}/rpc`, headers: () => (token ? { authorization: `Bearer ${token}` } : {}) }),
  );
}

/** A test engine running the demo workflows, served by the API on 127.0.0.1 at an ephemeral port. */
export async function startTestApi({ backend, worker = true, api, engine: settings }: TestApiOptions): Promise<TestApi> {
  const engine = await createTestEngine({ ...settings, backend, workflows: demoWorkflows, worker });
  const served = await serveTestApi(engine, api ? { api } : {});
  return {
    ...engine,
    ...served,
    async close() {
      await served.close();
      await engine.close();
    },
  };
}

/**
 * Serves the API over `engine` on 127.0.0.1 (`port` 0: an ephemeral one). Several may be served one after
 * another over the same engine, e.g. a server that goes away and comes back on the same port.
 */
export async function serveTestApi(
  engine: TestEngine,
  { port = 0, api: overrides = {} }: { port?: number; api?: TestApiConfig } = {},
): Promise<TestApiServer> {
  const faults: unknown[][] = [];
  const api = createApiServer({
    runtime: engine.runtime,
    engine: engine.engine,
    queue: engine.queue,
    logger: {
      error: (...args: unknown[]) => {
        faults.push(args);
        console.error(...args);
      },
      warn: () => {},
    },
    keepAliveMs: 5_000,
    // Test runtimes have a pool of 4: leave half of it to appends and other calls.
    maxConcurrentStreamReads: 2,
    ...overrides,
    auth: { tokens: [], readTokenSecret: TEST_SECRET, ...overrides.auth },
    runStream: { retryMs: 20, ...overrides.runStream },
    feedStream: { retryMs: 20, ...overrides.feedStream },
  });
  const requests: TestApiServer['requests'] = [];
  const sockets = new Set<Socket>();
  const server = api.createHttpServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void api.handle(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const kill = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  const address = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${address.port}`;
  return {
    api,
    server,
    base,
    port: address.port,
    client: clientFor(base, overrides.auth?.tokens?.[0]),
    requests,
    faults,
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    kill,
    async close() {
      await api.close();
      await kill();
    },
  };
}

/**
 * Polls `probe` (a cheap in-process fact such as a counter) until it returns true; the deadline is a failure.
 * For facts with no event to wait on; `setImmediate`-paced at first, then every 10 ms. The default deadline is just
 * under the suite's 60 s test timeout: a failure deadline, never a measure of speed.
 */
export async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 55_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; !(await probe()); round++) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => (round < 100 ? setImmediate(resolve) : setTimeout(resolve, 10)));
  }
}

export interface SseResult {
  /** Seqs (or ids) of the `message` events, in arrival order. */
  ids: string[];
  /** Parsed data of the `message` events. */
  messages: Record<string, unknown>[];
  done: unknown;
}

/**
 * Follows an SSE URL with the `eventsource` client until its `done` event, then closes it (EventSource would
 * reconnect after the server ends the stream otherwise). Rejects on an `error` event the server sent, or on a
 * failed (re)connection that EventSource gives up on.
 */
export function followWithEventSource(
  url: string,
  options: { onMessage?: (event: MessageEvent, es: EventSource) => void; timeoutMs?: number } = {},
): Promise<SseResult> {
  return new Promise((resolve, reject) => {
    const es = new EventSource(url);
    const result: SseResult = { ids: [], messages: [], done: undefined };
    const timer = setTimeout(() => {
      es.close();
      reject(new Error(`no done event within ${options.timeoutMs ?? 60_000} ms; got ids ${result.ids.join(',')}`));
    }, options.timeoutMs ?? 60_000);
    es.onmessage = (event) => {
      result.ids.push(event.lastEventId);
      result.messages.push(JSON.parse(event.data));
      options.onMessage?.(event, es);
    };
    es.addEventListener('done', (event) => {
      clearTimeout(timer);
      es.close();
      result.done = JSON.parse(event.data);
      resolve(result);
    });
    es.addEventListener('error', (event) => {
      const data = (event as MessageEvent).data;
      if (typeof data === 'string' && data !== '') {
        // An `error` event sent by the server.
        clearTimeout(timer);
        es.close();
        reject(new Error(`server sent an error event: ${data}`));
      } else if (es.readyState === es.CLOSED) {
        clearTimeout(timer);
        const { code, message } = event as unknown as { code?: number; message?: string };
        reject(Object.assign(new Error(`EventSource gave up: ${code ?? ''} ${message ?? ''}`), { status: code }));
      }
    });
  });
}

/** `1..n`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
