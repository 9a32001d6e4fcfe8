/**
 * Unauthenticated load: what slow-body clients cost the server, how many connections it holds, and how an
 * authenticated request fares meanwhile. Prints figures; asserts nothing. Loopback only; every loop is bounded
 * and the script stops by itself.
 *
 *   pnpm bench:abuse                 # BENCH_SECONDS (default 5) of trickling per phase
 *
 * The server (runtime, engine without a worker, API with a token, node:http on 127.0.0.1) runs in this process;
 * the abusive clients run in a child process (this file, forked with `clients`), so the RSS figures are the
 * server's own. A slow-body client sends the headers of a 1 MiB JSON POST without a token, then one byte every
 * 100 ms.
 */
import { createApiServer } from '@runstream/api';
import { createEngine } from '@runstream/engine';
import { createBullQueue } from '@runstream/queue';
import { createRuntime } from '@runstream/runtime';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { benchSeconds, fmt, percentile, scratchDatabase, table } from './harness.js';

const SLOW_CLIENTS = [100, 300];
/** The connection flood stops here if the server never refuses (no cap): a bound on this script, not the server. */
const FLOOD_LIMIT = 2_000;
/** Below FLOOD_LIMIT, so the flood shows what happens at the cap (the server's default is 2,000). */
const MAX_CONNECTIONS = Number(process.env.BENCH_MAX_CONNECTIONS ?? 500);
const TRICKLE_MS = 100;
const BODY_BYTES = 1 << 20;

type ToChild = { kind: 'slow'; port: number; count: number } | { kind: 'flood'; port: number; limit: number } | { kind: 'stop' };
type FromChild = { kind: 'opened'; open: number; refused: number };

/** The child: opens abusive connections on request and keeps them going until told to stop. */
function runClients(): void {
  const sockets = new Set<Socket>();
  let trickle: NodeJS.Timeout | undefined;
  const reply = (message: FromChild) => process.send?.(message);
  const open = (port: number, head: string) =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        sockets.add(socket);
        socket.write(head);
        resolve(true);
      });
      socket.on('error', () => resolve(false));
      socket.once('close', () => sockets.delete(socket));
      socket.resume();
    });
  process.on('message', async (message: ToChild) => {
    if (message.kind === 'stop') {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
      process.exit(0);
    }
    let refused = 0;
    if (message.kind === 'slow') {
      const head = `POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n{"workflow":"`;
      for (let i = 0; i < message.count; i++) if (!(await open(message.port, head))) refused++;
      trickle ??= setInterval(() => {
        for (const socket of sockets) if (!socket.destroyed) socket.write('a');
      }, TRICKLE_MS);
    } else {
      // Idle connections that never finish their request line.
      for (let i = 0; i < message.limit && refused === 0; i++) if (!(await open(message.port, 'GET /api/runs HTTP/1.1\r\n'))) refused++;
    }
    reply({ kind: 'opened', open: sockets.size, refused });
  });
}

function ask(child: ChildProcess, message: ToChild): Promise<FromChild> {
  return new Promise((resolve) => {
    child.once('message', (reply: FromChild) => resolve(reply));
    child.send(message);
  });
}

/** Tells a client process to close its connections and exit, and waits until it has. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.send({ kind: 'stop' } satisfies ToChild);
  });
}

const rssMiB = () => process.memoryUsage().rss / (1 << 20);
const connections = (server: Server) => new Promise<number>((resolve) => server.getConnections((_, count) => resolve(count)));

/** Latencies of authenticated `GET /api/runs?limit=1` calls made one after another for `seconds`. */
async function authenticatedLatencies(base: string, token: string, seconds: number): Promise<{ latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const started = performance.now();
    try {
      const response = await fetch(`${base}/api/runs?limit=1`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      if (response.ok) latencies.push(performance.now() - started);
      else failures++;
    } catch {
      failures++;
    }
  }
  return { latencies, failures };
}

async function main(): Promise<void> {
  const teardown: (() => Promise<unknown>)[] = [];
  try {
    const db = await scratchDatabase('abuse');
    teardown.unshift(() => db.drop());
    const runtime = await createRuntime({ databaseUrl: db.url, namespace: db.name });
    teardown.unshift(() => runtime.close());
    const queue = createBullQueue({ namespace: db.name, connection: { backend: 'postgres', databaseUrl: db.url } });
    const engine = createEngine({ runtime, queue, workflows: [] });
    teardown.unshift(() => engine.close());
    const token = randomBytes(24).toString('hex');
    const api = createApiServer({ runtime, engine, queue, auth: { tokens: [token], readTokenSecret: randomBytes(32).toString('hex') }, maxConnections: MAX_CONNECTIONS });
    const server = api.createHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    teardown.unshift(async () => {
      await api.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const port = (server.address() as AddressInfo).port;
    const base = `http://127.0.0.1:${port}`;

    const quiet = await authenticatedLatencies(base, token, Math.min(benchSeconds, 2));
    console.log(`\nauthenticated GET /api/runs without abuse: p50 ${fmt(percentile(quiet.latencies, 0.5), 1)} ms, p99 ${fmt(percentile(quiet.latencies, 0.99), 1)} ms\n`);

    const rows: (string | number)[][] = [];
    for (const count of SLOW_CLIENTS) {
      const child = fork(fileURLToPath(import.meta.url), ['clients'], { stdio: 'inherit' });
      const rssBefore = rssMiB();
      const opened = await ask(child, { kind: 'slow', port, count });
      const during = await authenticatedLatencies(base, token, benchSeconds);
      rows.push([
        count,
        opened.open,
        await connections(server),
        fmt(rssBefore, 0),
        fmt(rssMiB(), 0),
        fmt(percentile(during.latencies, 0.5), 1),
        fmt(percentile(during.latencies, 0.99), 1),
        during.failures,
      ]);
      await stop(child);
    }
    console.log(`slow-body clients: unauthenticated 1 MiB POSTs, one byte every ${TRICKLE_MS} ms, held for ${benchSeconds} s`);
    table(
      ['clients', 'connected', 'held by server', 'RSS before (MiB)', 'RSS during (MiB)', 'auth p50 (ms)', 'auth p99 (ms)', 'auth failures'],
      rows,
    );

    const flood = fork(fileURLToPath(import.meta.url), ['clients'], { stdio: 'inherit' });
    const flooded = await ask(flood, { kind: 'flood', port, limit: FLOOD_LIMIT });
    const held = await connections(server);
    const during = await authenticatedLatencies(base, token, Math.min(benchSeconds, 2));
    await stop(flood);
    console.log('connection flood: idle connections that never finish their request line');
    table(
      ['cap (server.maxConnections)', 'opened', 'held by server', 'first refusal', 'auth p50 (ms)', 'auth failures'],
      [[
        Number.isFinite(server.maxConnections) ? server.maxConnections : 'none',
        flooded.open,
        held,
        flooded.refused > 0 ? `after ${flooded.open}` : `none within ${FLOOD_LIMIT} (this script's bound)`,
        fmt(percentile(during.latencies, 0.5), 1),
        during.failures,
      ]],
    );
  } finally {
    for (const step of teardown) await step().catch((error: unknown) => console.error('teardown failed:', error));
  }
}

if (process.argv[2] === 'clients') runClients();
else
  await main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
