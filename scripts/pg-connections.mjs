#!/usr/bin/env node
/**
 * Samples PostgreSQL's connections while tests run (`node scripts/pg-connections.mjs`, beside `pnpm test:integration`
 * or `pnpm test:stress`) and, on Ctrl-C / SIGTERM (or after --seconds S), prints each vitest invocation's peak
 * (its databases are named `rs_<invocation>_…`), the peak of every connection to the server together, and the
 * databases that held the most at once. PostgreSQL refuses clients past `max_connections` ("sorry, too many clients
 * already"), so one suite's peak must leave room for another suite and the engineers' own servers.
 *
 *   node scripts/pg-connections.mjs [--interval MS] [--seconds S]     (default 250 ms, until stopped)
 *
 * Uses RUNSTREAM_TEST_DATABASE_URL like the suite (default postgres://postgres@127.0.0.1:5432/postgres); the
 * sampler's own connection is not counted.
 */
import { createRequire } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

// The root manifest lists no database driver: use the one testkit connects with.
const testkitRequire = createRequire(new URL('../packages/testkit/package.json', import.meta.url));
const { default: postgres } = await import(pathToFileURL(testkitRequire.resolve('postgres')).href);

const options = { interval: 250, seconds: Infinity };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i]?.replace(/^--/, '');
  if (key !== 'interval' && key !== 'seconds') {
    console.error(`pg-connections: unknown option ${argv[i]}`);
    process.exit(2);
  }
  options[key] = Number(argv[++i]);
}

const sql = postgres(process.env.RUNSTREAM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', {
  max: 1,
  onnotice: () => {},
});
const [{ max_connections: maxConnections }] = await sql`select current_setting('max_connections')::int as max_connections`;

/** `rs_<project>_<pid>_p<pool>_<suffix>` → `<project>_<pid>`: the vitest invocation a test database belongs to. */
const invocationOf = (datname) => /^rs_([a-z0-9]+_\d+)_/.exec(datname)?.[1];

const peakByInvocation = new Map();
const peakByDatabase = new Map();
let peakTotal = 0;
let samples = 0;
const started = Date.now();

async function sample() {
  const rows = await sql`
    select coalesce(datname, '(none)') as datname, count(*)::int as count from pg_stat_activity
    where pid <> pg_backend_pid() and backend_type = 'client backend' group by 1`;
  samples++;
  let total = 0;
  const byInvocation = new Map();
  for (const { datname, count } of rows) {
    total += count;
    const invocation = invocationOf(datname);
    if (invocation) byInvocation.set(invocation, (byInvocation.get(invocation) ?? 0) + count);
    if (count > (peakByDatabase.get(datname) ?? 0)) peakByDatabase.set(datname, count);
  }
  peakTotal = Math.max(peakTotal, total);
  for (const [invocation, count] of byInvocation) {
    const peak = peakByInvocation.get(invocation);
    if (!peak || count > peak.count) peakByInvocation.set(invocation, { count, at: new Date().toISOString().slice(11, 19) });
  }
}

function report() {
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`pg-connections: ${samples} samples over ${seconds} s; max_connections ${maxConnections}`);
  console.log(`  peak of all client connections at once: ${peakTotal}`);
  for (const [invocation, { count, at }] of [...peakByInvocation].sort((a, b) => b[1].count - a[1].count)) {
    console.log(`  suite ${invocation}: peak ${count} (at ${at} UTC)`);
  }
  const top = [...peakByDatabase].sort((a, b) => b[1] - a[1]).slice(0, 12);
  console.log('  databases with the most connections at once:');
  for (const [datname, count] of top) console.log(`    ${String(count).padStart(3)}  ${datname}`);
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  report();
  await sql.end({ timeout: 1 });
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const deadline = started + options.seconds * 1000;
while (!stopping && Date.now() < deadline) {
  const next = Date.now() + options.interval;
  await sample();
  await delay(Math.max(0, next - Date.now()));
}
await stop();
