import { serveTestApi, type TestApiServer } from '@runstream/api/testing';
import { demoWorkflows } from '@runstream/demo-workflows';
import { createTestEngine, type TestEngine } from '@runstream/engine/testing';
import { bundleForChild, waitForStatus } from '@runstream/testkit';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/runstream.js', import.meta.url));
const main = fileURLToPath(new URL('./main.ts', import.meta.url));
/**
 * The CLI's entry compiled once for this file: the shipped `bin` compiles it through tsx in every process, which
 * on a loaded machine costs seconds per command. The last test runs the real `bin`.
 */
let compiled: string;
const token = 'cli-test-token';
const auth = { tokens: [token], readTokenSecret: 'cli-test-read-token-secret' };

const startHttp = (t: TestEngine, port = 0) => serveTestApi(t, { port, api: { auth, keepAliveMs: 1_000 } });

interface Cli {
  /** Resolves once the process exited. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout (or stderr) line matching, as soon as it is printed. */
  line(stream: 'stdout' | 'stderr', match: RegExp): Promise<string>;
}

/**
 * Runs the `runstream` command as a child process (asynchronously: the API serves it from this process), from the
 * compiled entry or, with `viaBin`, through the shipped bin.
 */
function cli(args: string[], env: Record<string, string> = {}, { viaBin = false } = {}): Cli {
  const child = spawn(process.execPath, [viaBin ? bin : compiled, ...args], {
    env: { ...process.env, RUNSTREAM_API_TOKEN: token, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  const waiters: { stream: 'stdout' | 'stderr'; match: RegExp; resolve(line: string): void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const line = text[waiter.stream].split('\n').find((l) => waiter.match.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      text[stream] += chunk;
      check();
    });
  }
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      for (const waiter of waiters) waiter.resolve(`(exited ${code} before a line matched ${waiter.match}) ${text[waiter.stream]}`);
      resolve({ code, ...text });
    });
  });
  return {
    done,
    line: (stream, match) =>
      new Promise((resolve) => {
        waiters.push({ stream, match, resolve });
        check();
      }),
  };
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('the runstream CLI against the real API', () => {
  let t: TestEngine;
  let server: TestApiServer;
  let port: number;
  let url: string;

  beforeAll(async () => {
    compiled = await bundleForChild(main);
    t = await createTestEngine({ backend: 'postgres', workflows: demoWorkflows });
    server = await startHttp(t);
    port = server.port;
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    if (server?.server.listening) await server.close();
    await t?.close();
  });

  it('start --follow of demo.tokens prints every chunk, the text, and exits 0', async () => {
    const text = 'hello streaming world';
    const { code, stdout, stderr } = await cli(['start', 'demo.tokens', '--input', JSON.stringify({ text, intervalMs: 5 }), '--follow'], {
      RUNSTREAM_URL: url,
    }).done;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    const runId = /^started run (\S+) \(demo\.tokens, queued\)$/.exec(lines[0]!)?.[1];
    expect(runId).toBeDefined();
    const stored = await t.runtime.eventLog.read(runId!);
    // One line per event, #1..#N in order, then the end line.
    expect(lines.slice(1, -1).map((line) => Number(/^#(\d+) /.exec(line)?.[1]))).toEqual(stored.map((_, i) => i + 1));
    const chunks = lines.flatMap((line) => {
      const m = /^#\d+ step\.chunk generate\[1\] (".*")$/.exec(line);
      return m ? [JSON.parse(m[1]!) as string] : [];
    });
    expect(chunks.join('')).toBe(text);
    expect(stdout).toContain(`run.succeeded ■ succeeded output {"text":"${text}","words":3}`);
    expect(lines.at(-1)).toBe(`run ${runId} succeeded (last seq ${stored.length})`);
  });

  it('schedules create, get, pause and delete; a bad cron is refused naming the field', async () => {
    const env = { RUNSTREAM_URL: url };
    const created = await cli(
      ['schedules', 'create', 'cli-nightly', '--cron', '0 2 * * *', '--tz', 'Europe/Paris', '--workflow', 'demo.countdown', '--input', '{"count":1}'],
      env,
    ).done;
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('cron      0 2 * * * (Europe/Paris)');
    // The next 5 fire times, one a line.
    expect(created.stdout.split('\n').filter((line) => /^ {2}\d{4}-\d\d-\d\dT0[01]:00:00\.000Z$/.test(line))).toHaveLength(5);

    const paused = await cli(['--json', 'schedules', 'pause', 'cli-nightly'], env).done;
    expect(jsonLines(paused.stdout)).toEqual([expect.objectContaining({ id: 'cli-nightly', enabled: false, nextFireTimes: [] })]);
    const listed = await cli(['schedules'], env).done;
    expect(listed.stdout).toMatch(/cli-nightly {2}0 2 \* \* \* {2}Europe\/Paris {2}demo\.countdown {2}paused/);
    expect((await cli(['schedules', 'delete', 'cli-nightly'], env).done).stdout).toBe('deleted schedule cli-nightly\n');

    const refused = await cli(['schedules', 'create', 'bad', '--cron', '0 2 * *', '--workflow', 'demo.countdown'], env).done;
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('BAD_REQUEST');
    expect(refused.stderr).toContain('cron');
    expect(await t.runtime.store.schedules.list()).toEqual([]);
  });

  it('--json prints one JSON object per line: the created run, each event, then done', async () => {
    const { code, stdout } = await cli(
      ['--json', '--url', url, 'start', 'demo.tokens', '--input', '{"text":"a b","intervalMs":0}', '--key', 'json-1', '-f'],
      { RUNSTREAM_URL: 'http://127.0.0.1:1' }, // the flag wins over the environment
    ).done;
    expect(code).toBe(0);
    const [created, ...rest] = jsonLines(stdout);
    const run = (created as { run: { id: string; idempotencyKey: string }; created: boolean }).run;
    expect(created).toMatchObject({ created: true, run: { workflow: 'demo.tokens', idempotencyKey: 'json-1' } });
    const done = rest.pop();
    const stored = await t.runtime.eventLog.read(run.id);
    expect(rest.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(done).toEqual({ done: { status: 'succeeded', lastSeq: stored.length } });

    // The same key and request again: the existing run, not a new one.
    const again = await cli(['--json', '--url', url, 'start', 'demo.tokens', '--input', '{"intervalMs":0,"text":"a b"}', '--key', 'json-1']).done;
    expect(again.code).toBe(0);
    expect(jsonLines(again.stdout)).toEqual([expect.objectContaining({ created: false, run: expect.objectContaining({ id: run.id }) })]);
    // The same key for another input: refused, naming the code.
    const reused = await cli(['--json', '--url', url, 'start', 'demo.tokens', '--input', '{"text":"a b"}', '--key', 'json-1']).done;
    expect(reused.code).toBe(3);
    expect(reused.stderr).toContain('IDEMPOTENCY_KEY_REUSED');
  });

  it('lists runs, gets one, lists workflows', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text: 'list me', intervalMs: 0 } });
    await waitForStatus(t.runtime, run.id);
    const env = { RUNSTREAM_URL: url };

    const runs = await cli(['runs', '--workflow', 'demo.tokens', '--status', 'succeeded', '--limit', '50', '--json'], env).done;
    expect(runs.code).toBe(0);
    const [page] = jsonLines(runs.stdout) as [{ runs: { id: string; status: string }[] }];
    expect(page.runs.map((r) => r.id)).toContain(run.id);
    expect(new Set(page.runs.map((r) => r.status))).toEqual(new Set(['succeeded']));

    const table = await cli(['runs', '--limit', '1'], env).done;
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+WORKFLOW\s+STATUS\s+SEQ\s+CREATED\n/);
    expect(table.stdout).toMatch(/\nmore: --cursor \S+\n$/);

    const get = await cli(['get', run.id], env).done;
    expect(get.code).toBe(0);
    expect(get.stdout).toContain(`run       ${run.id}`);
    expect(get.stdout).toContain('status    succeeded');
    expect(get.stdout).toMatch(/\n {2}generate {2}completed {2}attempt 1 /);

    const workflows = await cli(['workflows'], env).done;
    expect(workflows.code).toBe(0);
    expect(workflows.stdout).toMatch(/\ndemo\.tokens\s+\S+\s+-\s+\{ text: string, intervalMs\?: integer \}\n/);
  });

  it('exits 1 when a followed run is cancelled (cancelled with the cancel command)', async () => {
    const follow = cli(['start', 'demo.countdown', '--input', '{"count":1000,"intervalMs":20}', '--follow'], { RUNSTREAM_URL: url });
    const runId = /^started run (\S+)/.exec(await follow.line('stdout', /^started run /))?.[1];
    expect(runId).toBeDefined();
    await follow.line('stdout', /run\.started/);
    const cancel = await cli(['cancel', runId!], { RUNSTREAM_URL: url }).done;
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain(`run       ${runId}`);
    const { code, stdout } = await follow.done;
    expect(code).toBe(1);
    expect(stdout).toMatch(/run\.cancelled ■ cancelled/);
    expect(stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^run ${runId} cancelled \\(last seq \\d+\\)$`));
  });

  it('tail survives a server restart on the same port: every seq once, in order', async () => {
    const { run } = await t.engine.startRun({
      workflow: 'demo.tokens',
      input: { text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), intervalMs: 20 },
    });
    const tail = cli(['tail', run.id, '--json'], { RUNSTREAM_URL: url });
    await tail.line('stdout', /"seq":5,/);
    await server.kill();
    await tail.line('stderr', /ECONNREFUSED/); // the follower was refused while the server was down
    server = await startHttp(t, port);
    const { code, stdout } = await tail.done;
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    const done = lines.pop();
    const stored = await t.runtime.eventLog.read(run.id);
    expect(lines.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(done).toEqual({ done: { status: 'succeeded', lastSeq: stored.length } });
  });

  it('tail --from starts at that seq', async () => {
    const { run } = await t.engine.startRun({ workflow: 'demo.tokens', input: { text: 'x y', intervalMs: 0 } });
    const finished = await waitForStatus(t.runtime, run.id);
    const { code, stdout } = await cli(['tail', run.id, '--from', '3'], { RUNSTREAM_URL: url }).done;
    expect(code).toBe(0);
    const seqs = stdout.match(/^#\d+/gm)?.map((s) => Number(s.slice(1)));
    expect(seqs).toEqual(Array.from({ length: finished.lastSeq - 2 }, (_, i) => i + 3));
  });

  it('exits 3 naming the field when the API rejects the input', async () => {
    const { code, stdout, stderr } = await cli(['start', 'demo.tokens', '--input', '{"text":""}'], { RUNSTREAM_URL: url }).done;
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: BAD_REQUEST input\.text: /);
  });

  it('exits 3 with the code for API errors: unknown run, bad token, unknown workflow', async () => {
    const env = { RUNSTREAM_URL: url };
    const missing = await cli(['get', '00000000-0000-4000-8000-00000000abcd'], env).done;
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error: NOT_FOUND /);
    const tail = await cli(['tail', '00000000-0000-4000-8000-00000000abcd'], env).done;
    expect(tail.code).toBe(3);
    expect(tail.stderr).toMatch(/^error: NOT_FOUND /);
    const unauthorized = await cli(['runs', '--token', 'wrong'], env).done;
    expect(unauthorized.code).toBe(3);
    expect(unauthorized.stderr).toMatch(/^error: UNAUTHORIZED /);
    const unknown = await cli(['start', 'no.such.workflow'], env).done;
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^error: UNKNOWN_WORKFLOW /);
  });

  it('exits 3 when the server cannot be reached', async () => {
    const other = await startHttp(t);
    const closedUrl = other.base;
    await other.close();
    const { code, stderr } = await cli(['workflows', '--url', closedUrl]).done;
    expect(code).toBe(3);
    expect(stderr).toBe(`error: UNREACHABLE cannot reach ${closedUrl}: ECONNREFUSED\n`);
  });

  it('exits 2 on usage errors, with a clear message', async () => {
    const unknown = await cli(['frobnicate']).done;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('runstream: unknown command "frobnicate"');
    const badJson = await cli(['start', 'demo.tokens', '--input', '{text: hi}']).done;
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('runstream: --input is not valid JSON: ');
    // The shipped bin (tsx, no build step) runs the same entry.
    const help = await cli(['--help'], {}, { viaBin: true }).done;
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: runstream');
  });
});
