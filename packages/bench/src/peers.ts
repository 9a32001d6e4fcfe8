/**
 * Runstream against its closest peer, DBOS Transact (durable workflows in TypeScript on PostgreSQL), on the same
 * PostgreSQL. Prints figures; asserts nothing.
 *
 *   pnpm bench:peers                          # BENCH_REPEATS (default 3) × BENCH_SECONDS (default 5) per figure
 *   BENCH_SECONDS=3 BENCH_REPEATS=3 pnpm bench:peers
 *   BENCH_MEASUREMENTS=statements,stream pnpm bench:peers   # some of runs1, runs5, latency, stream, statements
 *   BENCH_SYSTEMS=runstream-postgres,dbos pnpm bench:peers  # some of runstream-postgres, runstream-redis, dbos
 *
 * Systems: Runstream with BullMQ's PostgreSQL backend, Runstream with Redis, and DBOS 5.3 with workflows started
 * directly (`DBOS.startWorkflow`). DBOS's queues poll every second by default (`minPollingIntervalMs`), which would
 * measure the poll interval, not the system, so its queue is left out. Each measurement runs in a child process
 * of its own (this file, forked with `child`), on a scratch database of its own that it drops at the end: DBOS
 * keeps process-global state (`DBOS.launch()` / `DBOS.shutdown()`), and a fresh process per measurement gives
 * every system the same clean heap, JIT and pools, and a `process.cpuUsage()` that is its own. Systems alternate
 * (the order rotates each repeat); each figure is the median and the best of the repeats.
 *
 * - runs/s: a closed loop of 64 clients, each starting a run and waiting for its end (Runstream: worker
 *   concurrency 64), 1 and 5 no-op steps. Node CPU per run is the child's user + system CPU over that loop.
 * - create → completed: the same, one client, 1 step; p50 and p99.
 * - streamed chunks: one run writes chunks one after another (Runstream `ctx.emit`, DBOS `DBOS.writeStream`) while
 *   a reader in the same process follows them (Runstream: bus + `eventLog.read`, DBOS: `DBOS.readStream`);
 *   chunks/s written and append → reader latency.
 * - SQL statements: counted in the PostgreSQL server log with `log_statement = 'all'` set on the scratch database
 *   (BEGIN/COMMIT count as statements), over 100 1-step runs, 100 5-step runs and one run of 500 chunks, 8 in
 *   flight, after 100 runs of warm-up; transactions and connections (distinct backends) from the same log lines.
 *   Background polling in that window counts too. Redis round trips are not counted.
 *
 * PostgreSQL's connection limit is shared with whatever else runs on the server, so each system gets a pool of
 * POOL_SIZE, and a measurement whose child fails (e.g. "too many clients") is tried once more.
 */
import { createEngine, type Engine } from '@runstream/engine';
import { createBullQueue, type QueueBackendConfig } from '@runstream/queue';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { fork } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import {
  adminUrl,
  benchSeconds,
  fmt,
  percentile,
  rate,
  redisUrl,
  runCount,
  runFor,
  scratchDatabase,
  table,
  type ScratchDatabase,
} from './harness.js';
import { emitter, finalSeq, steps1, steps5 } from './workflows.js';

const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const IN_FLIGHT = 64;
const COUNTED_RUNS = 100;
const COUNTED_CHUNKS = 500;
const STREAM_CAP = 200_000;
const POOL_SIZE = 8;
/** No single run may take longer than this; a run that does fails the measurement rather than hang it. */
const RUN_TIMEOUT_MS = 60_000;
const CHILD_TIMEOUT_MS = (benchSeconds * 2 + 120) * 1000;

const allSystems = ['runstream-postgres', 'runstream-redis', 'dbos'] as const;
type System = (typeof allSystems)[number];
/** BENCH_SYSTEMS=runstream-postgres,dbos measures only those. */
const systems = allSystems.filter((name) => (process.env.BENCH_SYSTEMS ?? allSystems.join(',')).split(',').includes(name));
const allMeasurements = ['runs1', 'runs5', 'latency', 'stream', 'statements'] as const;
type Measurement = (typeof allMeasurements)[number];
/** BENCH_MEASUREMENTS=statements,stream runs only those. */
const measurements = allMeasurements.filter((name) =>
  (process.env.BENCH_MEASUREMENTS ?? allMeasurements.join(',')).split(',').includes(name),
);

interface Figures {
  runsPerSecond1?: number;
  cpuMsPerRun1?: number;
  runsPerSecond5?: number;
  cpuMsPerRun5?: number;
  p50Ms?: number;
  p99Ms?: number;
  chunksPerSecond?: number;
  readerP50Ms?: number;
  readerP99Ms?: number;
  statementsPerRun1?: number;
  statementsPerRun5?: number;
  statementsPerChunk?: number;
  transactionsPerRun1?: number;
  connections?: number;
}

/** One system under test, as a client of it sees it. */
interface Peer {
  /** Starts a run of `steps` no-op steps and resolves when it has completed. */
  runOnce(steps: 1 | 5): Promise<void>;
  /** One run writes up to `count` chunks until `until`; `onChunk` gets each one's append → reader latency. */
  stream(count: number, until: number, onChunk: (latencyMs: number) => void): Promise<number>;
  close(): Promise<void>;
}

const now = () => performance.timeOrigin + performance.now();

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no end after ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runstreamPeer(backend: 'postgres' | 'redis', db: ScratchDatabase): Promise<Peer> {
  const namespace = db.name;
  const runtime: Runtime = await createRuntime({ databaseUrl: db.url, namespace, poolSize: POOL_SIZE });
  const connection: QueueBackendConfig =
    backend === 'redis' ? { backend: 'redis', redisUrl } : { backend: 'postgres', databaseUrl: db.url };
  const queue = createBullQueue({ namespace, connection });
  const engine: Engine = createEngine({ runtime, queue, workflows: [steps1, steps5, emitter], concurrency: IN_FLIGHT });
  runtime.start();
  await engine.startWorker();

  /** Resolves once the run's log reaches `seq` (the bus hears appends on this node synchronously). */
  const reached = (runId: string, seq: number) =>
    withTimeout(
      new Promise<void>((resolve) => {
        const unsubscribe = runtime.bus.subscribe(runId, (signal) => {
          if (signal.kind === 'appended' && signal.lastSeq >= seq) {
            unsubscribe();
            resolve();
          }
        });
      }),
      `run ${runId}`,
    );

  return {
    async runOnce(steps) {
      const { run } = await engine.startRun({ workflow: steps === 1 ? steps1.name : steps5.name, input: {} });
      await reached(run.id, finalSeq(steps));
    },
    async stream(count, until, onChunk) {
      const { run } = await engine.startRun({ workflow: emitter.name, input: { count, until } });
      let nextSeq = 1;
      let chunks = 0;
      let reading = false;
      let ended = false;
      let finish: () => void = () => {};
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const readOn = async () => {
        if (reading) return;
        reading = true;
        try {
          for (let page = await runtime.eventLog.read(run.id, { fromSeq: nextSeq }); page.length > 0; ) {
            const at = now();
            for (const event of page) {
              if (event.type === 'run.output') {
                chunks++;
                onChunk(at - (event.data.data as { at: number }).at);
              }
              if (event.type === 'run.succeeded' || event.type === 'run.failed') ended = true;
            }
            nextSeq = page.at(-1)!.seq + 1;
            page = await runtime.eventLog.read(run.id, { fromSeq: nextSeq });
          }
        } finally {
          reading = false;
        }
        if (ended) finish();
      };
      const unsubscribe = runtime.bus.subscribe(run.id, () => void readOn());
      try {
        await readOn();
        await withTimeout(finished, `stream run ${run.id}`);
      } finally {
        unsubscribe();
      }
      return chunks;
    },
    async close() {
      await engine.close();
      await runtime.close();
      if (backend === 'redis') {
        const cleanup = createBullQueue({ namespace, connection });
        await cleanup.obliterate();
        await cleanup.close();
      }
    },
  };
}

async function dbosPeer(db: ScratchDatabase): Promise<Peer> {
  const { DBOS } = await import('@dbos-inc/dbos-sdk');
  const noop = async () => null;
  const steps1Workflow = DBOS.registerWorkflow(
    async () => {
      await DBOS.runStep(noop, { name: 'only' });
      return null;
    },
    { name: 'steps1' },
  );
  const steps5Workflow = DBOS.registerWorkflow(
    async () => {
      for (let i = 1; i <= 5; i++) await DBOS.runStep(noop, { name: `step-${i}` });
      return null;
    },
    { name: 'steps5' },
  );
  const emitterWorkflow = DBOS.registerWorkflow(
    async (count: number, until: number) => {
      let emitted = 0;
      while (emitted < count && Date.now() < until) {
        await DBOS.writeStream('chunks', { i: emitted, at: now() });
        emitted++;
      }
      await DBOS.closeStream('chunks');
      return emitted;
    },
    { name: 'emitter' },
  );
  DBOS.setConfig({ name: 'runstream-bench', systemDatabaseUrl: db.url, systemDatabasePoolSize: POOL_SIZE, logLevel: 'error' });
  await DBOS.launch();
  return {
    async runOnce(steps) {
      const handle = await DBOS.startWorkflow(steps === 1 ? steps1Workflow : steps5Workflow)();
      await withTimeout(handle.getResult(), `workflow ${handle.workflowID}`);
    },
    async stream(count, until, onChunk) {
      const handle = await DBOS.startWorkflow(emitterWorkflow)(count, until);
      let chunks = 0;
      const read = (async () => {
        for await (const chunk of DBOS.readStream<{ at: number }>(handle.workflowID, 'chunks')) {
          chunks++;
          onChunk(now() - chunk.at);
        }
      })();
      await withTimeout(Promise.all([read, handle.getResult()]), `stream workflow ${handle.workflowID}`);
      return chunks;
    },
    close: () => DBOS.shutdown(),
  };
}

/**
 * What the server logged for `database` since `offset` (log_statement = 'all'): statements, transactions (an
 * explicit BEGIN … COMMIT counts once, every statement outside one is its own), and the backends that ran them.
 */
async function loggedStatements(logPath: string, database: string, offset: number) {
  const { size } = await stat(logPath);
  const file = await open(logPath, 'r');
  const buffer = Buffer.alloc(Math.max(0, size - offset));
  await file.read(buffer, 0, buffer.length, offset);
  await file.close();
  let statements = 0;
  let transactions = 0;
  const inTransaction = new Set<string>();
  const backends = new Set<string>();
  const pattern = new RegExp(`\\[(\\d+)\\] \\S+@${database} LOG:  (?:statement|execute [^:]*): (\\w*)`);
  for (const line of buffer.toString('utf8').split('\n')) {
    const match = pattern.exec(line);
    if (!match) continue;
    const [, backend, verb] = match as unknown as [string, string, string];
    statements++;
    backends.add(backend);
    const keyword = verb.toLowerCase();
    if (keyword === 'begin' || keyword === 'start') {
      inTransaction.add(backend);
      transactions++;
    } else if (keyword === 'commit' || keyword === 'rollback' || keyword === 'end') {
      inTransaction.delete(backend);
    } else if (!inTransaction.has(backend)) {
      transactions++;
    }
  }
  return { statements, transactions, backends };
}

/** Where the server writes its log: the collector's file, or the Debian cluster log it sends stderr to. */
async function serverLogPath(sql: postgres.Sql): Promise<string> {
  const [row] = await sql<{ path: string | null }[]>`select pg_current_logfile() as path`;
  if (row?.path) {
    const [dir] = await sql<{ dir: string }[]>`select current_setting('data_directory') as dir`;
    return row.path.startsWith('/') ? row.path : `${dir!.dir}/${row.path}`;
  }
  const [version] = await sql<{ major: string }[]>`select current_setting('server_version_num')::int / 10000 as major`;
  return process.env.BENCH_PG_LOG ?? `/var/log/postgresql/postgresql-${version!.major}-main.log`;
}

async function measure(system: System, measurement: Measurement): Promise<Figures> {
  // Short: the database name is Runstream's namespace, and its NOTIFY channel must fit in 63 bytes.
  const label = { 'runstream-postgres': 'rspg', 'runstream-redis': 'rsredis', dbos: 'dbos' }[system];
  const db = await scratchDatabase(`peers_${label}_${measurement}`, { migrate: system !== 'dbos' });
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    if (measurement === 'statements') await admin`alter database ${admin(db.name)} set log_statement = 'all'`;
    const peer = system === 'dbos' ? await dbosPeer(db) : await runstreamPeer(system === 'runstream-redis' ? 'redis' : 'postgres', db);
    try {
      return await measureOn(peer, measurement, db, admin);
    } finally {
      await peer.close();
    }
  } finally {
    await admin.end();
    await db.drop();
  }
}

async function measureOn(peer: Peer, measurement: Measurement, db: ScratchDatabase, admin: postgres.Sql): Promise<Figures> {
  const warmup = Math.min(1, benchSeconds / 5);
  switch (measurement) {
    case 'runs1':
    case 'runs5': {
      const steps = measurement === 'runs1' ? 1 : 5;
      await runFor(IN_FLIGHT, warmup, () => peer.runOnce(steps));
      const cpu = process.cpuUsage();
      const sample = await runFor(IN_FLIGHT, benchSeconds, () => peer.runOnce(steps));
      const used = process.cpuUsage(cpu);
      const cpuMsPerRun = (used.user + used.system) / 1000 / sample.ops;
      return steps === 1
        ? { runsPerSecond1: rate(sample), cpuMsPerRun1: cpuMsPerRun }
        : { runsPerSecond5: rate(sample), cpuMsPerRun5: cpuMsPerRun };
    }
    case 'latency': {
      await runFor(1, warmup, () => peer.runOnce(1));
      const sample = await runFor(1, benchSeconds, () => peer.runOnce(1));
      return { p50Ms: percentile(sample.latencies, 0.5), p99Ms: percentile(sample.latencies, 0.99) };
    }
    case 'stream': {
      await peer.stream(100, Date.now() + 10_000, () => {});
      const latencies: number[] = [];
      const start = performance.now();
      const chunks = await peer.stream(STREAM_CAP, Date.now() + benchSeconds * 1000, (ms) => latencies.push(ms));
      const seconds = (performance.now() - start) / 1000;
      return {
        chunksPerSecond: chunks / seconds,
        readerP50Ms: percentile(latencies, 0.5),
        readerP99Ms: percentile(latencies, 0.99),
      };
    }
    case 'statements': {
      const countRuns = (steps: 1 | 5) => runCount(8, COUNTED_RUNS, () => peer.runOnce(steps));
      /** What the server logged while `work` ran. */
      const logged = async (work: () => Promise<unknown>) => {
        const { size } = await stat(logPath);
        await work();
        return loggedStatements(logPath, db.name, size);
      };
      const logPath = await serverLogPath(admin);
      await countRuns(1);
      const one = await logged(() => countRuns(1));
      const five = await logged(() => countRuns(5));
      const stream = await logged(() => peer.stream(COUNTED_CHUNKS, Date.now() + 60_000, () => {}));
      return {
        statementsPerRun1: one.statements / COUNTED_RUNS,
        statementsPerRun5: five.statements / COUNTED_RUNS,
        statementsPerChunk: (stream.statements - one.statements / COUNTED_RUNS) / COUNTED_CHUNKS,
        transactionsPerRun1: one.transactions / COUNTED_RUNS,
        connections: one.backends.size,
      };
    }
  }
}

/** Runs one measurement in a fresh child process and returns its figures. */
function inChild(system: System, measurement: Measurement): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['child', system, measurement], { stdio: 'inherit' });
    let figures: Figures | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('message', (message) => (figures = message as Figures));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (figures) resolve(figures);
      else reject(new Error(`${system} ${measurement}: child ended (${signal ?? code}) without figures`));
    });
  });
}

const median = (values: number[]) => percentile(values, 0.5);
const best = (values: number[], higherIsBetter: boolean) =>
  higherIsBetter ? Math.max(...values) : Math.min(...values);

async function main() {
  const results = new Map<System, Figures[]>(allSystems.map((system) => [system, []]));
  console.log(
    `\n# Runstream vs DBOS Transact 5.3 (started directly, not through its 1 s-polling queue): ${repeats} repeats, ` +
      `${benchSeconds} s per figure, systems alternating\n`,
  );
  for (let repeat = 0; repeat < repeats; repeat++) {
    const order = systems.map((_, i) => systems[(i + repeat) % systems.length]!);
    const figures = new Map<System, Figures>(order.map((system) => [system, {}]));
    for (const measurement of measurements) {
      for (const system of order) {
        for (let attempt = 1; attempt <= 2; attempt++) {
          try {
            Object.assign(figures.get(system)!, await inChild(system, measurement));
            break;
          } catch (error) {
            console.error(`${String(error)}${attempt === 1 ? '; trying once more' : ''}`);
          }
        }
      }
    }
    for (const system of order) results.get(system)!.push(figures.get(system)!);
    console.log(`repeat ${repeat + 1}/${repeats} done`);
  }

  const rows: [string, keyof Figures, boolean, number][] = [
    ['1-step runs/s, 64 in flight', 'runsPerSecond1', true, 1],
    ['5-step runs/s, 64 in flight', 'runsPerSecond5', true, 1],
    ['Node CPU ms per 1-step run, 64 in flight', 'cpuMsPerRun1', false, 2],
    ['Node CPU ms per 5-step run, 64 in flight', 'cpuMsPerRun5', false, 2],
    ['create → completed p50 ms, one at a time', 'p50Ms', false, 1],
    ['create → completed p99 ms, one at a time', 'p99Ms', false, 1],
    ['streamed chunks/s, one run', 'chunksPerSecond', true, 0],
    ['append → reader p50 ms', 'readerP50Ms', false, 1],
    ['append → reader p99 ms', 'readerP99Ms', false, 1],
    ['SQL statements per 1-step run', 'statementsPerRun1', false, 1],
    ['SQL statements per 5-step run', 'statementsPerRun5', false, 1],
    ['SQL statements per streamed chunk', 'statementsPerChunk', false, 2],
    ['transactions per 1-step run', 'transactionsPerRun1', false, 1],
    ['connections that ran statements', 'connections', false, 0],
  ];
  const cell = (values: number[], higherIsBetter: boolean, digits: number) =>
    values.length === 0 ? 'n/a' : `${fmt(median(values), digits)} (best ${fmt(best(values, higherIsBetter), digits)})`;
  const valuesOf = (system: System, key: keyof Figures) =>
    results
      .get(system)!
      .map((figures) => figures[key])
      .filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
  const ratio = (system: System, key: keyof Figures) => {
    const ours = valuesOf(system, key);
    const theirs = valuesOf('dbos', key);
    return ours.length && theirs.length ? `${fmt(median(ours) / median(theirs), 2)}×` : 'n/a';
  };
  table(
    ['median (best) of repeats', 'Runstream, PG queue', 'Runstream, Redis', 'DBOS direct', 'PG queue / DBOS', 'Redis / DBOS'],
    rows.map(([label, key, higherIsBetter, digits]) => [
      label,
      ...allSystems.map((system) => cell(valuesOf(system, key), higherIsBetter, digits)),
      ratio('runstream-postgres', key),
      ratio('runstream-redis', key),
    ]),
  );
}

if (process.argv[2] === 'child') {
  const [system, measurement] = process.argv.slice(3) as [System, Measurement];
  measure(system, measurement).then(
    (figures) => process.send!(figures, () => process.exit(0)),
    (error: unknown) => {
      console.error(`${system} ${measurement}:`, error);
      process.exit(1);
    },
  );
} else {
  await main();
}
