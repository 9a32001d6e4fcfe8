import { createRunstream, loadWorkflowModule } from '@runstream/sdk';
import { exitOf, freePort, readSse, spawnServer, type ServerProcess } from '@runstream/server/testing';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/runstream.js', import.meta.url));
// The workflows modules import the SDK by its path: they live in a temp directory, outside any package.
const sdk = pathToFileURL(fileURLToPath(new URL('../../../packages/sdk/src/index.ts', import.meta.url))).href;
const dir = mkdtempSync(join(tmpdir(), 'rs-cli-workflows-'));
// As in a user's project: the SDK is ESM, and so are the workflows modules.
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
const started: ServerProcess[] = [];
const databases: TestDatabase[] = [];
let database: TestDatabase;

// Each deployment gets its own database: a worker's sweeper recovers stalled runs of its whole database, whatever
// their namespace, so deployments sharing one would run each other's runs.
async function freshDatabase(): Promise<TestDatabase> {
  database = await createTestDatabase();
  databases.push(database);
  return database;
}

beforeAll(async () => {
  await freshDatabase();
});

afterAll(async () => {
  for (const child of started) child.signal('SIGTERM');
  await Promise.all(started.map((child) => exitOf(child).catch(() => child.signal('SIGKILL'))));
  await Promise.all(databases.map((each) => each.drop()));
  rmSync(dir, { recursive: true, force: true });
});

function writeWorkflows(file: string, greeting: string): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    `import { defineWorkflow, z } from ${JSON.stringify(sdk)};
export const hello = defineWorkflow({
  name: 'user.hello',
  input: z.object({ name: z.string() }),
  async run(ctx, { name }) {
    return ctx.step('greet', async () => ${JSON.stringify(greeting)} + ', ' + name);
  },
});
`,
  );
  return path;
}

/** One namespace per test too: its jobs stay its own even on a shared Redis. */
const namespace = (test: string) => `${database.name.slice(0, 40)}_${test}`;

/** The runstream bin as a child process, configured by `env` only (PostgreSQL backend for the queue). */
function runstream(args: string[], env: Record<string, string> = {}): ServerProcess {
  const child = spawnServer({ DATABASE_URL: database.url, LOG_LEVEL: 'info', ...env }, { args: [bin, ...args] });
  started.push(child);
  return child;
}

/** Starts a run over the REST API and reads its SSE stream to the end: the run, its seqs and the `done` event. */
async function runToEnd(url: string, name: string) {
  const response = await fetch(`${url}/api/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflow: 'user.hello', input: { name } }),
  });
  expect(response.status).toBe(201);
  const { run } = (await response.json()) as { run: { id: string } };
  const seqs: number[] = [];
  let done: { status: string } | null = null;
  for await (const event of readSse(await fetch(`${url}/api/runs/${run.id}/stream`))) {
    if (event.event === 'done') done = JSON.parse(event.data) as { status: string };
    else if (event.id) seqs.push(Number(event.id));
  }
  expect(seqs).toEqual(seqs.map((_, index) => index + 1));
  const got = (await (await fetch(`${url}/api/runs/${run.id}`)).json()) as { status: string; output: unknown; workflowVersion: string };
  return { ...got, done };
}

describe('runstream start | worker | dev with a workflows module', () => {
  it.each([
    ['a module that does not exist', () => join(dir, 'nowhere.ts'), /nowhere\.ts: the file does not exist/],
    ['a module that exports no workflows', () => writeModule('none.ts', 'export const x = 1;'), /none\.ts: it exports no workflow definitions/],
    ['a module that throws on import', () => writeModule('boom.ts', 'throw new Error("boom at import");'), /boom\.ts: importing it threw: boom at import/],
    [
      'a module with two workflows of one name',
      () => writeModule('twice.ts', `import { defineWorkflow, z } from ${JSON.stringify(sdk)};
const twin = () => defineWorkflow({ name: 'twin', input: z.object({}), run: async () => 1 });
export const a = twin();
export const b = twin();`),
      /twice\.ts: it exports two workflows named "twin"/,
    ],
  ])('exits 2 naming the file and the problem for %s', async (_, file, message) => {
    const child = runstream(['start', '--workflows', file()], { RUNSTREAM_NAMESPACE: namespace('bad') });
    expect((await exitOf(child)).code).toBe(2);
    expect(child.raw()).toMatch(message);
  });

  it('start --workflows serves the user workflow (and not the demos)', async () => {
    await freshDatabase();
    const file = writeWorkflows('start.ts', 'Hello');
    const child = runstream(['start', '--workflows', file], { PORT: String(await freePort()), RUNSTREAM_NAMESPACE: namespace('start') });
    const ready = await child.waitForLog((line) => /node ready$/.test(line.msg));
    expect(ready.workflows).toEqual(['user.hello']);
    const run = await runToEnd(ready.url as string, 'Ada');
    expect(run).toMatchObject({ status: 'succeeded', output: 'Hello, Ada', done: { status: 'succeeded' } });
    child.signal('SIGTERM');
    expect((await exitOf(child)).code).toBe(0);
  });

  it('worker --workflows joins a deployment by DATABASE_URL and namespace and runs what an API node accepts', async () => {
    await freshDatabase();
    const file = writeWorkflows('worker.ts', 'Hi');
    const worker = runstream(['worker', '--workflows', file], { PORT: String(await freePort()), RUNSTREAM_NAMESPACE: namespace('worker') });
    await worker.waitForLog((line) => /worker node ready$/.test(line.msg));
    const apiNode = await createRunstream({
      workflows: (await loadWorkflowModule(file)).workflows,
      databaseUrl: database.url,
      namespace: namespace('worker'),
      worker: false,
      migrate: false,
      poolSize: 2,
      env: {},
    });
    try {
      const [hello] = apiNode.workflows;
      const run = await apiNode.start(hello!, { name: 'Bo' });
      expect(await run.result()).toBe('Hi, Bo');
      expect((await apiNode.get(run.id))?.status).toBe('succeeded');
    } finally {
      await apiNode.close();
    }
  });

  it('dev reloads the module when its file changes: the next run uses the new code and records the new version', async () => {
    await freshDatabase();
    const file = writeWorkflows('dev.ts', 'Hello');
    const child = runstream(['dev', '--workflows', file], { PORT: String(await freePort()), RUNSTREAM_NAMESPACE: namespace('dev') });
    const ready = await child.waitForLog((line) => line.msg === 'Runstream dev server ready');
    const url = ready.url as string;
    const first = await runToEnd(url, 'Cy');
    expect(first).toMatchObject({ status: 'succeeded', output: 'Hello, Cy' });

    writeWorkflows('dev.ts', 'Howdy');
    const reloaded = await child.waitForLog((line) => line.msg === 'workflows reloaded');
    const second = await runToEnd(url, 'Cy');
    expect(second).toMatchObject({ status: 'succeeded', output: 'Howdy, Cy' });
    expect(second.workflowVersion).not.toBe(first.workflowVersion);
    expect(reloaded.workflows).toEqual([`user.hello@${second.workflowVersion}`]);
  });
});

function writeModule(file: string, body: string): string {
  const path = join(dir, file);
  writeFileSync(path, body);
  return path;
}
