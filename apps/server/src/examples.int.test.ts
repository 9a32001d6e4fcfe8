import { installedExample, packedPackages, type PackedPackages } from './testing/examples.js';
import { exitOf, readSse, spawnServer, type ServerProcess } from './testing/server-process.js';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/packages.js';

const run = promisify(execFile);
const started: ServerProcess[] = [];
const databases: TestDatabase[] = [];
let packed: PackedPackages;

// Packing builds the dashboard and two bundles, and the first npm install downloads the dependencies (later ones
// come from npm's cache): minutes on a cold machine, so this file has generous hook and test timeouts. Both are kept
// per version of their sources in the temp directory (./testing/examples.ts), so only a changed tree pays for them.
beforeAll(async () => {
  packed = await packedPackages();
}, 600_000);

afterAll(async () => {
  for (const child of started) child.signal('SIGTERM');
  await Promise.all(started.map((child) => exitOf(child).catch(() => child.signal('SIGKILL'))));
  await Promise.all(databases.map((database) => database.drop()));
});

/** The example installed from the tarballs, type-checked with its own TypeScript (what `npm run typecheck` runs). */
async function installAndTypecheck(name: string): Promise<string> {
  const dir = await installedExample(name, packed);
  await run(join(dir, 'node_modules', '.bin', 'tsc'), ['--noEmit'], { cwd: dir });
  return dir;
}

/** Starts the example's server (`npm start` without npm: signals reach it) on the test's own database. */
async function start(dir: string): Promise<string> {
  const database = await createTestDatabase();
  databases.push(database);
  const child = spawnServer(
    { DATABASE_URL: database.url, RUNSTREAM_NAMESPACE: database.name, PORT: '0' },
    { args: ['--import', 'tsx', join(dir, 'src', 'server.ts')], workingDir: dir },
  );
  started.push(child);
  const line = await child.waitForLog((entry) => entry.msg.startsWith('listening on '), 120_000);
  return line.msg.slice('listening on '.length);
}

/** Reads a run's SSE stream to its `done` event: every seq once, in order, from 1. */
async function streamOf(url: string) {
  const events: { seq: number; type: string; data: Record<string, unknown> }[] = [];
  type End = { status: string; lastSeq: number };
  const ends: End[] = [];
  for await (const message of readSse(await fetch(url))) {
    if (message.event === 'done') ends.push(JSON.parse(message.data) as End);
    else if (message.event === 'message') events.push(JSON.parse(message.data) as (typeof events)[number]);
  }
  expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
  expect(ends).toHaveLength(1);
  const done = ends[0]!;
  expect(done.lastSeq).toBe(events.length);
  return { events, done };
}

describe('the examples, installed from the packed packages', () => {
  // All three run at once: each mostly waits on a child process (publint and attw, npm, tsc, the servers).
  it.concurrent('packs tarballs without workspace ranges or workspace packages that pass publint and Are the Types Wrong', async () => {
    expect(packed.packages.map((entry) => entry.name)).toEqual(['@runstream/client', '@runstream/sdk']);
    const checks = packed.packages.map(async ({ tarball }) => {
      const { stdout: manifest } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
      expect(manifest).not.toContain('workspace:');
      // The workspace packages are bundled in, so the packed manifest depends on none of them.
      const { dependencies } = JSON.parse(manifest) as { dependencies: Record<string, string> };
      expect(Object.keys(dependencies).filter((name) => name.startsWith('@runstream/'))).toEqual([]);
      await Promise.all([
        run('pnpm', ['exec', 'publint', 'run', tarball, '--strict'], { cwd: repoRoot }),
        run('pnpm', ['exec', 'attw', tarball, '--profile', 'esm-only'], { cwd: repoRoot }),
      ]);
    });
    await Promise.all(checks);
  }, 120_000);

  it.concurrent('agent: type-checks, serves its page, and a run plans, retries a failing tool and streams its answer', async () => {
    const dir = await installAndTypecheck('agent');
    const url = await start(dir);
    expect(await (await fetch(url)).text()).toContain('new EventSource(');

    const created = await fetch(`${url}/runstream/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'agent.answer', input: { question: 'What is Runstream?' } }),
    });
    expect(created.status).toBe(201);
    const { run: created_ } = (await created.json()) as { run: { id: string } };
    const { events, done } = await streamOf(`${url}/runstream/api/runs/${created_.id}/stream`);
    expect(done.status).toBe('succeeded');
    const failedOnce = events.filter((event) => event.type === 'step.failed' && event.data.step === 'tool-0-search');
    expect(failedOnce).toHaveLength(1);
    const chunks = events.filter((event) => event.type === 'step.chunk').map((event) => event.data.data as string);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.join('')).toContain('append-only event log');
  }, 600_000);

  it.concurrent('express: type-checks, mounts Runstream under /runstream and starts runs from its own route', async () => {
    const dir = await installAndTypecheck('express');
    const url = await start(dir);

    const workflows = (await (await fetch(`${url}/runstream/api/workflows`)).json()) as { name: string }[];
    expect(workflows.map((workflow) => workflow.name)).toEqual(['shop.fulfil-order']);
    const accepted = await fetch(`${url}/orders/42/fulfil`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: ['tea', 'mug'] }),
    });
    expect(accepted.status).toBe(202);
    const { runId, stream } = (await accepted.json()) as { runId: string; stream: string };
    const { done, events } = await streamOf(`${url}${stream}`);
    expect(done.status).toBe('succeeded');
    expect(events.filter((event) => event.type === 'step.chunk')).toHaveLength(2);
    expect(await (await fetch(`${url}/orders/${runId}/result`)).json()).toEqual({ orderId: 42, shipped: 2, charged: 2_500 });
  }, 600_000);
});
