import { isDefinedError, safe } from '@orpc/client';
import { waitForStatus } from '@runstream/testkit';
import { request as httpRequest } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from './index.js';
import { clientFor, startTestApi, TEST_SECRET, until, type TestApi } from './testing/index.js';

/** What unauthenticated and slow clients can hold on a server with tokens: memory, connections, time. */
const FULL = 'full-access-token-0123456789';
const HEADERS_TIMEOUT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;
/** Past the deadlines above (and Node's check interval), well before the Node defaults (60 s, 300 s). */
const CUT_WITHIN = { timeout: 15_000 };

let t: TestApi;
let port: number;
beforeAll(async () => {
  t = await startTestApi({
    backend: 'postgres',
    worker: false,
    api: {
      auth: { tokens: [FULL], readTokenSecret: TEST_SECRET },
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    },
  });
  port = Number(new URL(t.base).port);
});
afterAll(async () => {
  await t?.close();
  expect(t?.faults ?? []).toEqual([]);
});

interface RawConnection {
  socket: Socket;
  /** Everything the server sent, once the connection is closed (by either side). */
  closed: Promise<string>;
  received(): string;
}

/** A raw TCP connection to a server, to send partial requests. */
function openRaw(toPort: number = port): RawConnection {
  const socket = connect({ host: '127.0.0.1', port: toPort });
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<string>((resolve) => {
    // A refused or reset connection is an answer too (an empty one): the assertions look at what arrived.
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
  });
  return { socket, closed, received: () => text };
}

const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;

describe('unauthenticated requests are refused on their headers', () => {
  it('401 before a 1 MiB body is sent, and the connection is closed', CUT_WITHIN, async () => {
    for (const [path, credential] of [
      ['/api/runs', {}],
      ['/rpc/runs/create', {}],
      ['/api/runs', { authorization: 'Bearer wrong-token' }],
      // The one procedure whose body may carry a read token: an unauthenticated body over 4 KiB is not read.
      ['/rpc/runs/stream', {}],
    ] as const) {
      const raw = openRaw();
      raw.socket.write(head('POST', path, { 'content-type': 'application/json', 'content-length': 1 << 20, ...credential }));
      raw.socket.write('{"json":{"workflow":"demo.countdown"');
      const answer = await raw.closed;
      expect(answer, path).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer, path).toMatch(/connection: close/i);
      expect(answer, path).toContain('"code":"UNAUTHORIZED"');
    }
  });

  it('the typed client reads that 401 as the contract’s error', async () => {
    const [error] = await safe(clientFor(t.base).runs.create({ workflow: 'demo.countdown', input: { count: 1 } }));
    expect(isDefinedError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401, message: 'a valid bearer token is required' });
  });

  it('a bodiless 401 keeps the connection (the dashboard asks for a token after one)', async () => {
    const raw = openRaw();
    raw.socket.write(head('GET', '/api/runs', {}));
    await until(() => raw.received().includes('"code":"UNAUTHORIZED"'), 'the 401');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(raw.received()).toMatch(/connection: keep-alive/i);
    raw.socket.end();
    await raw.closed;
  });
});

describe('the body limit (maxBodyBytes, default 1 MiB)', () => {
  it('a body declared larger is 413 naming Content-Length before it is sent; a chunked one is cut at the limit', CUT_WITHIN, async () => {
    const auth = { authorization: `Bearer ${FULL}`, 'content-type': 'application/json' };
    const declared = openRaw();
    declared.socket.write(head('POST', '/api/runs', { ...auth, 'content-length': (1 << 20) + 1 }));
    const answer = await declared.closed;
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('"field":"Content-Length"');

    const chunked = openRaw();
    chunked.socket.write(head('POST', '/api/runs', { ...auth, 'transfer-encoding': 'chunked' }));
    const chunk = `{"workflow":"demo.countdown","input":{"pad":"${'x'.repeat(64 * 1024)}`;
    for (let sent = 0; sent <= 1 << 20 && !chunked.received(); sent += chunk.length) {
      chunked.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      await new Promise((resolve) => chunked.socket.once('drain', resolve).write('', resolve));
    }
    await until(() => chunked.received().includes('PAYLOAD_TOO_LARGE'), 'the 413');
    expect(chunked.received()).toMatch(/^HTTP\/1\.1 413 /);
    chunked.socket.destroy();
  });
});

describe('slow requests are cut', () => {
  it('headers not finished within headersTimeoutMs: 408 and closed', CUT_WITHIN, async () => {
    const raw = openRaw();
    raw.socket.write(`GET /api/workflows HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${FULL}\r\n`);
    expect(await raw.closed).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('an authenticated body trickled past requestTimeoutMs: 408 and closed; an SSE stream opened earlier is not cut', CUT_WITHIN, async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.countdown', input: { count: 1, intervalMs: 0 } });
    let stream = '';
    let streamClosed = false;
    const sse = httpRequest(`${t.base}/api/runs/${run.id}/stream?fromSeq=1`, { headers: { authorization: `Bearer ${FULL}` }, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (stream += chunk));
      res.on('close', () => (streamClosed = true));
    });
    sse.end();
    await until(() => stream.includes('id: 1\n'), 'the stream’s first event');

    const raw = openRaw();
    raw.socket.write(head('POST', '/api/runs', { authorization: `Bearer ${FULL}`, 'content-type': 'application/json', 'content-length': 1000 }));
    raw.socket.write('{"workflow":');
    expect(await raw.closed).toMatch(/^HTTP\/1\.1 408 /);

    // The stream began before the trickled request, so a deadline on it would have cut it first.
    expect(streamClosed).toBe(false);
    await t.engine.cancelRun(run.id);
    await waitForStatus(t.runtime, run.id);
    await until(() => stream.includes('event: done'), 'the stream’s done event');
    expect(stream).toContain('"status":"cancelled"');
  });
});

describe('the connection cap', () => {
  it('closes connections beyond maxConnections at once (health checks too), and serves again below it', async () => {
    const capped = createApiServer({
      runtime: t.runtime,
      engine: t.engine,
      queue: t.queue,
      auth: { tokens: [FULL], readTokenSecret: TEST_SECRET },
      logger: { error: (...args: unknown[]) => t.faults.push(args), warn: () => {} },
      maxConnections: 2,
    });
    const server = capped.createHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cappedPort = (server.address() as AddressInfo).port;
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    const health = `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    try {
      const held = [openRaw(cappedPort), openRaw(cappedPort)];
      await until(async () => (await connections()) === 2, 'two held connections');

      const refused = openRaw(cappedPort);
      refused.socket.write(health);
      expect(await refused.closed).toBe('');

      held[0]!.socket.write(health);
      expect(await held[0]!.closed).toMatch(/^HTTP\/1\.1 200 /);
      await until(async () => (await connections()) === 1, 'one held connection');
      const next = openRaw(cappedPort);
      next.socket.write(health);
      expect(await next.closed).toMatch(/^HTTP\/1\.1 200 /);
      held[1]!.socket.destroy();
    } finally {
      await capped.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
