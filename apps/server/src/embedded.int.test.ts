import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, exitOf, freePort, poll, startServerProcess, type ServerProcess } from './testing/server-process.js';

// As root the embedded PostgreSQL runs as the OS user "postgres", which must be able to traverse the data
// directory: mkdtemp makes it 0700, so open it up (its parent, /tmp, is world-traversable).
const dataDir = mkdtempSync(join(tmpdir(), 'rs-embedded-'));
chmodSync(dataDir, 0o755);
const pidFile = join(dataDir, 'pgdata', 'postmaster.pid');
const started: ServerProcess[] = [];

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
  rmSync(dataDir, { recursive: true, force: true });
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
    expect(existsSync(join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);

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
