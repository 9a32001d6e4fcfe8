import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { bundleForChild } from '@runstream/testkit';

const mainPath = join(import.meta.dirname, '..', 'main.ts');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * Deadline of every wait here: just under the suite's 60 s test timeout. A failure deadline, never a measure of
 * speed, so a loaded machine only makes a test slower; a stuck wait still fails saying what it waited for.
 */
const FAILURE_DEADLINE_MS = 55_000;

/** Variables of the test runner's environment that would configure the child behind the test's back. */
const configuring = /^(DATABASE_URL|DATABASE_POOL_SIZE|REDIS_URL|PORT|HOST|LOG_LEVEL|WORKER_CONCURRENCY|EMBEDDED_PG_PORT|RUNSTREAM_.*|OTEL_.*)$/;

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  pid: number;
  /** Resolves with the exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Parsed JSON log lines so far; `raw` has stdout and stderr as text. */
  logs: LogLine[];
  raw(): string;
  /** Resolves with the first log line matching `predicate`; rejects if the process exits first or at the deadline. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  signal(signal: NodeJS.Signals): void;
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Connection budget of a test server: test files run in parallel against one PostgreSQL (100 connections by
 * default), so each server keeps a small pool and few concurrent jobs unless a test says otherwise.
 */
const frugal = { DATABASE_POOL_SIZE: '3', WORKER_CONCURRENCY: '2' };

/** node's arguments that run the server's `src/main.ts` through the tsx loader. */
export const serverMain = ['--import', tsxLoader, mainPath];

/**
 * Starts `src/main.ts` as a child process (node, no wrapper, so signals reach it directly), in an empty working
 * directory (no stray .env) and with only the given configuration variables. By default through the tsx loader, as
 * in production; `compiled` is the entry compiled once for the test run (`compiledServer()`), which starts in half
 * the time on a loaded machine since the child no longer compiles the server's import graph itself. `args` runs
 * other node arguments instead (the `runstream` bin, an example app), in `workingDir` when given.
 */
export function spawnServer(
  env: Record<string, string>,
  { compiled, args: given, workingDir }: { compiled?: string; args?: string[]; workingDir?: string } = {},
): ServerProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !configuring.test(key)));
  const cwd = workingDir ?? mkdtempSync(join(tmpdir(), 'rs-server-cwd-'));
  const args = given ?? (compiled ? [compiled] : serverMain);
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, args, {
    cwd,
    env: { ...base, ...frugal, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let raw = '';
  const watchers = new Set<() => void>();
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 'unparsed', msg: line });
      }
    }
    for (const watcher of watchers) watcher();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!workingDir) rmSync(cwd, { recursive: true, force: true });
      resolve({ code, signal });
      for (const watcher of watchers) watcher();
    }),
  );
  let exitedNow = false;
  void exited.then(() => (exitedNow = true));

  return {
    pid: child.pid!,
    exited,
    logs,
    raw: () => raw,
    waitForLog(predicate, timeoutMs = FAILURE_DEADLINE_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(predicate);
          if (found) return finish(() => resolve(found));
          if (exitedNow || child.exitCode !== null || child.signalCode !== null) {
            return finish(() => reject(new Error(`server exited before the expected log line; its output:\n${raw}`)));
          }
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no expected log line within ${timeoutMs} ms; output:\n${raw}`))),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          watchers.delete(check);
          settle();
        };
        watchers.add(check);
        check();
      });
    },
    signal(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** `src/main.ts` compiled once per test run (see `bundleForChild`). */
export function compiledServer(): Promise<string> {
  return bundleForChild(mainPath);
}

/** Starts a server (compiled entry) and waits for its "ready" line, its readiness fact: its URL and instance id. */
export async function startServerProcess(env: Record<string, string>) {
  const server = spawnServer(env, { compiled: await compiledServer() });
  const ready = await server.waitForLog((line) => /node ready$/.test(line.msg));
  return { server, url: ready.url as string, instanceId: ready.instanceId as string, ready };
}

/** Resolves with the exit once the process has ended, failing after `timeoutMs`. */
export async function exitOf(server: ServerProcess, timeoutMs = FAILURE_DEADLINE_MS) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`server did not exit within ${timeoutMs} ms; output:\n${server.raw()}`)), timeoutMs);
  });
  try {
    return await Promise.race([server.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Re-runs `probe` (a fact, over HTTP or SQL) until it returns a value, failing with the last value at the deadline. */
export async function poll<T>(
  probe: () => Promise<T | undefined>,
  describe: string,
  { timeoutMs = FAILURE_DEADLINE_MS, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** Reads a Server-Sent Events response body event by event (plain fetch; no EventSource needed). */
export async function* readSse(response: Response): AsyncGenerator<SseEvent> {
  if (!response.body) throw new Error('no body');
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let boundary: number;
    while ((boundary = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '');
      const event: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') event.id = value;
      }
      if (data.length === 0 && event.id === undefined && event.event === 'message') continue;
      event.data = data.join('\n');
      yield event;
    }
  }
}

/** JSON over fetch with an optional bearer token. */
export async function api<T = unknown>(
  url: string,
  options: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ status: number; body: T }> {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const response = await fetch(url, {
    method,
    headers: {
      // The server takes writes only as JSON, bodiless ones included.
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}
