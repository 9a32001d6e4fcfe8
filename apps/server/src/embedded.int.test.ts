import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { api, exitOf, freePort, poll, startServerProcess, type ServerProcess } from './testing/server-process.js';

// The data directory sits inside a 0700 directory (mkdtemp makes them so), like a checkout under /root. As root
// the embedded PostgreSQL runs as the OS user "postgres", which cannot reach it there, so the server keeps it in
// /var/lib/runstream/<first 12 hex of sha256 of its path> instead (unique to this run); otherwise in place.
const parent = mkdtempSync(join(tmpdir(), 'rs-embedded-'));
const dataDir = join(parent, 'data');
const isRoot = process.getuid?.() === 0;
const clusterDir = isRoot
  ? join('/var/lib/runstream', createHash('sha256').update(dataDir).digest('hex').slice(0, 12))
  : dataDir;
const pidFile = join(clusterDir, 'pgdata', 'postmaster.pid');
const started: ServerProcess[] = [];
const secret = (file: string) => readFileSync(join(clusterDir, file), 'utf8').trim();

afterAll(async () => {
  for (const server of started) server.signal('SIGTERM');
  await Promise.all(started.map((server) => exitOf(server).catch(() => server.signal('SIGKILL'))));
  // Should a server have died without stopping its PostgreSQL (a failed test), take it down too.
  if (existsSync(pidFile)) {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // gone
    }
  }
  rmSync(parent, { recursive: true, force: true });
  rmSync(clusterDir, { recursive: true, force: true });
});

describe('the embedded default (no DATABASE_URL)', () => {
  it('initialises and starts its own PostgreSQL, keeps the data across a restart, and stops it on SIGTERM', async () => {
    const env = {
      RUNSTREAM_DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(await freePort()),
    };

    const first = await startServerProcess(env);
    started.push(first.server);
    expect(first.ready).toMatchObject({ database: 'embedded', queue: 'postgres', role: 'all' });
    expect(first.server.logs.some((line) => line.msg === 'initialising a new PostgreSQL cluster')).toBe(true);
    expect(existsSync(join(clusterDir, 'pgdata', 'PG_VERSION'))).toBe(true);
    if (isRoot) {
      const moved = first.server.logs.find((line) => line.component === 'embedded-postgres' && 'requested' in line);
      expect(moved).toMatchObject({ dataDir: clusterDir, requested: dataDir, notTraversable: parent });
      expect(existsSync(dataDir)).toBe(false);
    }

    // The server works as a role of its own that is no superuser, and an idle transaction cannot hold back the
    // feed (the cluster-wide xmin) for longer than its timeout.
    const port = env.EMBEDDED_PG_PORT;
    const admin = postgres(`postgres://postgres:${secret('pg-password')}@127.0.0.1:${port}/runstream`, { max: 1, onnotice: () => {} });
    const app = postgres(`postgres://runstream:${secret('pg-app-password')}@127.0.0.1:${port}/runstream`, { max: 1, onnotice: () => {} });
    try {
      const sessions = await admin`select distinct usename from pg_stat_activity where datname = 'runstream' and pid <> pg_backend_pid()`;
      expect(sessions.map((row) => row.usename)).toEqual(['runstream']);
      expect(await admin`select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = 'runstream'`).toEqual([
        { rolsuper: false, rolcreaterole: false, rolcreatedb: false },
      ]);
      const [database] = await admin`select pg_get_userbyid(datdba) as owner from pg_database where datname = 'runstream'`;
      expect(database).toEqual({ owner: 'runstream' });
      const [setting] = await app`show idle_in_transaction_session_timeout`;
      expect(setting).toEqual({ idle_in_transaction_session_timeout: '1min' });
    } finally {
      await Promise.all([admin.end({ timeout: 5 }), app.end({ timeout: 5 })]);
    }

    const ready = await api<{ status: string }>(`${first.url}/health/ready`);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ok' } });
    const created = await api<{ run: { id: string } }>(`${first.url}/api/runs`, {
      body: { workflow: 'demo.countdown', input: { count: 2, intervalMs: 10 } },
    });
    expect(created.status).toBe(201);
    const id = created.body.run.id;
    await poll(async () => {
      const { body } = await api<{ status: string }>(`${first.url}/api/runs/${id}`);
      return body.status === 'succeeded' ? body : undefined;
    }, `run ${id} to succeed`);

    first.server.signal('SIGTERM');
    expect(await exitOf(first.server)).toEqual({ code: 0, signal: null });
    // PostgreSQL went down with it: a clean shutdown removes postmaster.pid.
    expect(existsSync(pidFile)).toBe(false);

    const second = await startServerProcess(env);
    started.push(second.server);
    expect(second.server.logs.some((line) => line.msg === 'initialising a new PostgreSQL cluster')).toBe(false);
    const run = await api<{ id: string; status: string; output: unknown }>(`${second.url}/api/runs/${id}`);
    expect(run).toMatchObject({ status: 200, body: { id, status: 'succeeded', output: { done: true } } });

    second.server.signal('SIGTERM');
    expect(await exitOf(second.server)).toEqual({ code: 0, signal: null });
    expect(existsSync(pidFile)).toBe(false);
  });
});
