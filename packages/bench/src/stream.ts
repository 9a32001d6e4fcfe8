/**
 * Server-Sent Event streams: memory per open stream, live latency, backfill. Prints figures; asserts nothing.
 *
 *   pnpm bench:stream               # BENCH_SECONDS (default 5) of appends per live measurement
 *
 * The server is composed as apps/server composes it (runtime, engine without a worker, API with its default
 * stream settings, node:http on 127.0.0.1) on a scratch database. Appends go through `runtime.eventLog.append`
 * in the server process, as an engine worker's would. The SSE subscribers are plain node:http readers in a child
 * process (this file, forked with `clients`), so the server's CPU and heap figures are its own.
 */
import { createApiServer, type ApiServer } from '@runstream/api';
import { createEngine } from '@runstream/engine';
import { createBullQueue } from '@runstream/queue';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, createServer, get, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { benchSeconds, fmt, percentile, scratchDatabase, table } from './harness.js';

const EVENTS_PER_SECOND = 1_000;
const SUBSCRIBERS = [1, 100, 1_000];
const SPREAD_RUNS = 100;
const IDLE_STREAMS = 1_000;
const BACKFILL_EVENTS = 100_000;
const BACKFILL_BATCH = 1_000;
/** After the last append, clients stop waiting for the rest after this long without progress, or this long at most. */
const DRAIN_IDLE_MS = 10_000;
const DRAIN_MAX_MS = 60_000;
/** A fresh run holds run.created and run.started: live events start at this seq. */
const FIRST_LIVE_SEQ = 3;

const targets = { p99Ms: 25, kbPerStream: 30, backfillPerSecond: 100_000 };

interface Subscription {
  runId: string;
  fromSeq: number;
}

/** Requests the server process sends the client process, and the replies. */
interface Protocol {
  clock: { request: Record<string, never>; reply: { now: number } };
  /** Opens one stream per subscription; replies once every response has started. */
  open: { request: { base: string; subscriptions: Subscription[] }; reply: Record<string, never> };
  /** Waits until every subscriber has its run's events up to `lastSeqs[runId]` (or gives up), then reports. */
  drain: { request: { lastSeqs: Record<string, number> }; reply: DrainReport };
  close: { request: Record<string, never>; reply: Record<string, never> };
  /** Follows one run's stream to its end. */
  backfill: { request: { url: string }; reply: { events: number; seconds: number; endedWith: string } };
}
type Kind = keyof Protocol;

interface DrainReport {
  expected: number;
  delivered: number;
  /** Seqs a stream skipped over: lost events (streams are ordered, so late ones are not gaps). */
  gaps: number;
  duplicates: number;
  /** Append → receive latencies of the delivered events, ms. */
  p50: number;
  p99: number;
  max: number;
  caughtUp: boolean;
  /** From the drain request (right after the last append returned) until the clients had everything. */
  drainSeconds: number;
}

/** Wall-clock ms with sub-ms resolution, comparable across processes on one machine. */
const wallClock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(probe: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client process: SSE readers.

/**
 * Opens an SSE stream with node:http; resolves once a 200 response started, then calls `onEvent` for every event.
 * A minimal parser for what oRPC sends: `event`, `retry`, `id` and one `data` line per event, comments skipped.
 */
function openSse(
  url: string,
  agent: Agent,
  onEvent: (event: string, id: number, data: string) => void,
  onEnd: () => void = () => {},
): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`${url}: HTTP ${response.statusCode}`));
        response.resume();
        return;
      }
      response.setEncoding('utf8');
      let buffer = '';
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let start = 0;
        for (let end = buffer.indexOf('\n\n'); end >= 0; start = end + 2, end = buffer.indexOf('\n\n', start)) {
          let event = 'message';
          let id = Number.NaN;
          let data = '';
          for (const line of buffer.slice(start, end).split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('id: ')) id = Number(line.slice(4));
            else if (line.startsWith('data: ')) data = line.slice(6);
          }
          if (data !== '') onEvent(event, id, data);
        }
        buffer = buffer.slice(start);
      });
      response.on('end', onEnd);
      resolve(request);
    });
    request.on('error', (error) => {
      // `close` destroys requests, which is not worth a word; anything else loses events: say so.
      if (!request.destroyed) console.error(`[clients] ${url}:`, error.message);
      reject(error);
    });
  });
}

interface Subscriber {
  subscription: Subscription;
  request?: ClientRequest;
  /** Highest seq received. */
  last: number;
  gaps: number;
  duplicates: number;
}

async function runClients(): Promise<void> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const subscribers = new Set<Subscriber>();
  let latencies: number[] = [];

  const handlers: { [K in Kind]: (request: Protocol[K]['request']) => Promise<Protocol[K]['reply']> } = {
    clock: async () => ({ now: wallClock() }),

    async open({ base, subscriptions }) {
      const opened = subscriptions.map(
        (subscription): Subscriber => ({ subscription, last: subscription.fromSeq - 1, gaps: 0, duplicates: 0 }),
      );
      for (const subscriber of opened) subscribers.add(subscriber);
      await Promise.all(
        opened.map(async (subscriber) => {
          const { runId, fromSeq } = subscriber.subscription;
          const url = `${base}/api/runs/${runId}/stream?fromSeq=${fromSeq}`;
          subscriber.request = await openSse(url, agent, (event, id, data) => {
            // A closed subscriber's socket may still hold data: it belongs to no measurement.
            if (event !== 'message' || !subscribers.has(subscriber)) return;
            // The append time is the only field read: a JSON.parse per delivery would make the clients, which
            // share the cores with the server, a bottleneck of their own at 1,000 subscribers.
            latencies.push(wallClock() - Number.parseFloat(data.slice(data.indexOf('"sentAt":') + 9)));
            if (id <= subscriber.last) subscriber.duplicates++;
            else {
              subscriber.gaps += id - subscriber.last - 1;
              subscriber.last = id;
            }
          });
        }),
      );
      return {};
    },

    async drain({ lastSeqs }) {
      const behind = () => [...subscribers].filter((s) => s.last < lastSeqs[s.subscription.runId]!).length;
      const started = performance.now();
      let progressAt = started;
      let received = latencies.length;
      while (behind() > 0) {
        await sleep(10);
        const now = performance.now();
        if (latencies.length !== received) [received, progressAt] = [latencies.length, now];
        if (now - progressAt > DRAIN_IDLE_MS || now - started > DRAIN_MAX_MS) break;
      }
      const sum = (of: (s: Subscriber) => number) => [...subscribers].reduce((total, s) => total + of(s), 0);
      const report: DrainReport = {
        expected: sum((s) => lastSeqs[s.subscription.runId]! - s.subscription.fromSeq + 1),
        delivered: latencies.length,
        gaps: sum((s) => s.gaps),
        duplicates: sum((s) => s.duplicates),
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        max: percentile(latencies, 1),
        caughtUp: behind() === 0,
        drainSeconds: (performance.now() - started) / 1000,
      };
      return report;
    },

    async close() {
      for (const subscriber of subscribers) subscriber.request?.destroy();
      subscribers.clear();
      latencies = [];
      return {};
    },

    async backfill({ url }) {
      const started = performance.now();
      let events = 0;
      let request: ClientRequest | undefined;
      const endedWith = await new Promise<string>((resolve, reject) => {
        const onEvent = (event: string, _id: number, data: string) => {
          if (event === 'message') events++;
          else resolve(`${event}: ${data}`);
        };
        openSse(url, agent, onEvent, () => resolve('end of response')).then((opened) => (request = opened), reject);
      });
      request?.destroy();
      return { events, seconds: (performance.now() - started) / 1000, endedWith };
    },
  };

  process.on('message', (message: { kind: Kind; request: never }) => {
    handlers[message.kind](message.request).then(
      (reply) => process.send!({ reply }),
      (error: unknown) => process.send!({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
  // The server process went away (finished or crashed): nothing left to measure.
  process.on('disconnect', () => process.exit(0));
  process.send!({ ready: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Server process: composition, appends and the figures.

/** Sends one request to the client process and waits for its reply (one request is in flight at a time). */
function ask<K extends Kind>(
  child: ChildProcess,
  kind: K,
  request: Protocol[K]['request'],
): Promise<Protocol[K]['reply']> {
  return new Promise((resolve, reject) => {
    const onExit = () => reject(new Error('the client process exited'));
    child.once('exit', onExit);
    child.once('message', (message: { reply?: Protocol[K]['reply']; error?: string }) => {
      child.off('exit', onExit);
      if (message.error === undefined) resolve(message.reply!);
      else reject(new Error(`client process: ${message.error}`));
    });
    child.send({ kind, request });
  });
}

/** The client process's clock minus this one's, from the ping with the shortest round trip. */
async function clockOffset(child: ChildProcess): Promise<{ offsetMs: number; roundTripMs: number }> {
  let best = { offsetMs: Number.NaN, roundTripMs: Infinity };
  for (let i = 0; i < 20; i++) {
    const sent = wallClock();
    const { now } = await ask(child, 'clock', {});
    const received = wallClock();
    const roundTripMs = received - sent;
    if (roundTripMs < best.roundTripMs) best = { offsetMs: now - (sent + received) / 2, roundTripMs };
  }
  return best;
}

interface Bench {
  runtime: Runtime;
  api: ApiServer;
  child: ChildProcess;
  base: string;
}

/** `count` fresh runs, started, so neutral events can be appended to them. */
async function startRuns(runtime: Runtime, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const { run } = await runtime.runs.create({ workflow: 'bench.stream', input: null });
      await runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: 'bench' } }]);
      return run.id;
    }),
  );
}

async function openStreams({ api, child, base }: Bench, runIds: string[], count: number): Promise<void> {
  const subscriptions = Array.from({ length: count }, (_, i) => ({
    runId: runIds[i % runIds.length]!,
    fromSeq: FIRST_LIVE_SEQ,
  }));
  await ask(child, 'open', { base, subscriptions });
  // A stream counts as open once the server pulled it the first time (it subscribed to the bus then).
  await waitFor(() => api.openStreams() === count, `${count} open streams`);
}

async function closeStreams({ api, child }: Bench): Promise<void> {
  await ask(child, 'close', {});
  await waitFor(() => api.openStreams() === 0, 'the streams to close');
}

let gc: (() => void) | undefined;

/** The server process's memory after full collections (`gc` is exposed at run time: no node flag needed). */
function memory() {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  const { heapUsed, external, rss } = process.memoryUsage();
  return { heapUsed, external, rss };
}

async function memoryPerStream(bench: Bench): Promise<void> {
  console.log(`## Memory per open stream: ${fmt(IDLE_STREAMS)} idle streams on ${SPREAD_RUNS} runs, server process\n`);
  const runIds = await startRuns(bench.runtime, SPREAD_RUNS);
  // Warm up first, so code loaded and compiled on the first streams is not charged to the streams measured.
  await openStreams(bench, runIds, 10);
  await closeStreams(bench);
  const idle = memory();
  await openStreams(bench, runIds, IDLE_STREAMS);
  await sleep(1_000);
  const open = memory();
  await closeStreams(bench);
  table(
    ['', 'no streams, MB', `${fmt(IDLE_STREAMS)} streams, MB`, `per stream, KB (target ≤ ${targets.kbPerStream})`],
    (['heapUsed', 'external', 'rss'] as const).map((key) => [
      key,
      fmt(idle[key] / 2 ** 20, 1),
      fmt(open[key] / 2 ** 20, 1),
      fmt((open[key] - idle[key]) / IDLE_STREAMS / 1024, 1),
    ]),
  );
}

/**
 * One `run.output` per append call, EVENTS_PER_SECOND in total, round-robin over `runIds`, for benchSeconds.
 * Each event carries the wall-clock time its append call started. Returns each run's last seq and the append
 * calls' latencies.
 */
async function appendSteadily(runtime: Runtime, runIds: string[]) {
  const lastSeqs = Object.fromEntries(runIds.map((id) => [id, FIRST_LIVE_SEQ - 1]));
  const appendMs: number[] = [];
  const inFlight: Promise<void>[] = [];
  const total = EVENTS_PER_SECOND * benchSeconds;
  const start = performance.now();
  let issued = 0;
  while (issued < total) {
    // Issue whatever is due by now, so a late timer does not lower the rate.
    const due = Math.min(total, Math.floor(((performance.now() - start) * EVENTS_PER_SECOND) / 1000));
    for (; issued < due; issued++) {
      const runId = runIds[issued % runIds.length]!;
      lastSeqs[runId]!++;
      const t0 = performance.now();
      const event = { type: 'run.output', data: { data: { sentAt: performance.timeOrigin + t0 } } };
      inFlight.push(runtime.eventLog.append(runId, [event]).then(() => void appendMs.push(performance.now() - t0)));
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  return { lastSeqs, appendMs, seconds: (performance.now() - start) / 1000 };
}

async function liveLatency(bench: Bench): Promise<void> {
  const rate = `${fmt(EVENTS_PER_SECOND)} events/s in total for ${benchSeconds} s`;
  console.log(`## Live latency: ${rate}, one event per append\n`);
  const rows: (string | number)[][] = [];
  for (const runCount of [1, SPREAD_RUNS]) {
    for (const subscribers of SUBSCRIBERS) {
      const runIds = await startRuns(bench.runtime, runCount);
      await openStreams(bench, runIds, subscribers);
      const appended = await appendSteadily(bench.runtime, runIds);
      const report = await ask(bench.child, 'drain', { lastSeqs: appended.lastSeqs });
      await closeStreams(bench);
      rows.push([
        runCount === 1 ? 'one run' : `${runCount} runs`,
        fmt(subscribers),
        fmt((EVENTS_PER_SECOND * benchSeconds) / appended.seconds),
        `${fmt(percentile(appended.appendMs, 0.5), 1)} / ${fmt(percentile(appended.appendMs, 0.99), 1)}`,
        `${fmt(report.delivered)} / ${fmt(report.expected)}`,
        fmt(report.gaps),
        fmt(report.duplicates),
        fmt(report.p50, 1),
        fmt(report.p99, 1),
        fmt(report.max, 1),
        report.caughtUp ? fmt(report.drainSeconds, 2) : `no, gave up after ${fmt(report.drainSeconds, 0)}`,
      ]);
    }
  }
  table(
    [
      'subscribed to',
      'subscribers',
      'appended events/s',
      'append call p50 / p99 ms',
      'delivered / expected',
      'missing (gaps)',
      'duplicates',
      'p50 ms',
      `p99 ms (target ≤ ${targets.p99Ms})`,
      'max ms',
      'caught up after last append, s',
    ],
    rows,
  );
  console.log(
    'Latency is from the start of the append call to the client parsing the event, so it includes the append ' +
      '(its own columns). It covers delivered events only: where the clients gave up, the undelivered rest is ' +
      'later still.\n',
  );
}

async function backfill(bench: Bench): Promise<void> {
  console.log(`## Backfill: one finished run of ${fmt(BACKFILL_EVENTS)} events, streamed from seq 1 by one client\n`);
  const { runtime, child, base } = bench;
  const [runId] = await startRuns(runtime, 1);
  const fillStart = performance.now();
  for (let i = 0; i < BACKFILL_EVENTS; i += BACKFILL_BATCH) {
    const batch = Array.from({ length: BACKFILL_BATCH }, (_, j) => ({
      type: 'run.output',
      data: { data: { index: i + j, text: 'token' } },
    }));
    await runtime.eventLog.append(runId!, batch);
  }
  await runtime.eventLog.append(runId!, [{ type: 'run.succeeded', data: { output: null } }]);
  const fillSeconds = (performance.now() - fillStart) / 1000;
  console.log(`Inserted at ${fmt(BACKFILL_EVENTS / fillSeconds)} events/s (${fmt(BACKFILL_BATCH)} per append).\n`);
  // As autovacuum would have by now: on a table never analyzed, the planner reads the whole rest of the run and
  // sorts it for every page, and that, not streaming, would be measured.
  await runtime.store.analyzeEventLog();
  const streamed = await ask(child, 'backfill', { url: `${base}/api/runs/${runId}/stream?fromSeq=1` });
  table(
    ['events streamed', 'ended with', 'seconds', `events/s (target ≥ ${fmt(targets.backfillPerSecond)})`],
    [[fmt(streamed.events), streamed.endedWith, fmt(streamed.seconds, 2), fmt(streamed.events / streamed.seconds)]],
  );
}

const load = () => loadavg().map((value) => value.toFixed(2)).join(', ');

async function runServer(teardown: { name: string; run: () => Promise<unknown> }[]): Promise<void> {
  const db = await scratchDatabase('stream');
  teardown.push({ name: 'scratch database', run: () => db.drop() });
  const runtime = await createRuntime({ databaseUrl: db.url, namespace: db.name });
  teardown.push({ name: 'runtime', run: () => runtime.close() });
  const queue = createBullQueue({ namespace: db.name, connection: { backend: 'postgres', databaseUrl: db.url } });
  // No worker: nothing executes the bench's runs; the API calls the engine for run operations only.
  const engine = createEngine({ runtime, queue, workflows: [] });
  teardown.push({ name: 'engine', run: () => engine.close() });
  runtime.start();
  const auth = { tokens: [], readTokenSecret: randomBytes(32).toString('hex') };
  const api = createApiServer({ runtime, engine, queue, auth });
  const server = createServer((req, res) => void api.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  teardown.push({
    name: 'http server',
    run: async () => {
      await api.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });

  const child = fork(fileURLToPath(import.meta.url), ['clients'], { stdio: 'inherit' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  teardown.push({
    name: 'client process',
    run: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', () => reject(new Error('the client process exited before it was ready')));
  });
  const bench: Bench = { runtime, api, child, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  const clock = await clockOffset(child);

  console.log(`\n# SSE streams (${availableParallelism()} cores, load average ${load()} at start)\n`);
  console.log(
    '- Server: runtime + engine (no worker) + API with its default stream settings (pages of 200, 4 concurrent ' +
      'stream reads, pool of 10) on node:http; appends by `runtime.eventLog.append` in the same process.',
  );
  console.log(
    '- Clients: node:http SSE readers in a child process, so the server figures exclude client CPU and memory; ' +
      'PostgreSQL, server and clients still share the cores.',
  );
  console.log(
    '- Clocks: performance.timeOrigin + now() in both processes; the client process is ' +
      `${fmt(clock.offsetMs, 3)} ms ahead (±${fmt(clock.roundTripMs / 2, 3)} ms), not corrected.\n`,
  );
  await memoryPerStream(bench);
  await liveLatency(bench);
  await backfill(bench);
  console.log(`Load average at the end: ${load()}`);
}

if (process.argv[2] === 'clients') {
  await runClients();
} else {
  const teardown: { name: string; run: () => Promise<unknown> }[] = [];
  try {
    await runServer(teardown);
  } catch (error) {
    console.error('bench:stream failed:', error);
    process.exitCode = 1;
  } finally {
    for (const step of teardown.reverse()) {
      await step.run().catch((error: unknown) => console.error(`cleanup of the ${step.name} failed:`, error));
    }
  }
}
