/**
 * The dashboard in a real headless Chromium against a real server (startServer: API, engine worker, outbox,
 * PostgreSQL queue backend) on this file's own database. Every wait is on a fact the page shows (Playwright's
 * auto-waiting locators); the timeouts are failure deadlines, never sleeps.
 */
import { buildDashboardForTests } from '@runstream/dashboard/build';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startServer, type ServerConfig, type StartedServer } from './server.js';

const artifacts = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const chromiumPath = process.env.RUNSTREAM_CHROMIUM ?? '/usr/bin/chromium';

interface ApiRun {
  id: string;
  status: string;
  lastSeq: number;
  workflow: string;
}

let database: TestDatabase;
let dashboardDir: string;
let server: StartedServer;
let port: number;
let base: string;
let browser: Browser;
let context: BrowserContext | undefined;
const pageErrors: string[] = [];

/** The server's own configuration from its environment variables (defaults for the rest), on `listenPort`. */
function serverConfig(listenPort: number, apiToken?: string): ServerConfig {
  const config = parseConfig({
    ...(apiToken ? { RUNSTREAM_API_TOKEN: apiToken } : {}),
    DATABASE_URL: database.url,
    HOST: '127.0.0.1',
    RUNSTREAM_NAMESPACE: database.name,
    RUNSTREAM_READ_TOKEN_SECRET: 'dashboard-test-read-token-secret-0123456789',
    WORKER_CONCURRENCY: '4',
    LOG_LEVEL: 'silent',
  });
  return { ...config, port: listenPort };
}

// A short grace so a restart hands the in-flight step off instead of waiting for it to finish.
const start = (listenPort: number, apiToken?: string) =>
  startServer(serverConfig(listenPort, apiToken), {
    engine: { shutdownGraceMs: 300, sweepIntervalMs: 500, leaseMs: 2_000 },
    dashboardDir,
  });

async function api<T>(path: string, body?: unknown, token?: string): Promise<T> {
  const response = await fetch(`${base}/api${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as T;
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

const startRun = async (workflow: string, input: unknown) => (await api<{ run: ApiRun }>('/runs', { workflow, input })).run;

async function newPage(width = 1280, height = 900): Promise<Page> {
  context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  // Failure deadlines just under the test's own 60 s: a loaded machine only makes a wait longer.
  page.setDefaultTimeout(55_000);
  page.on('pageerror', (error) => pageErrors.push(`${error.name}: ${error.message}`));
  // Everything the page needs comes from the server under its Content-Security-Policy: nothing is refused.
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) pageErrors.push(message.text());
  });
  return page;
}

/** The seqs of the timeline's lines, in page order. */
const timelineSeqs = (page: Page) => page.locator('.timeline > li').evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-seq'))));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const words = (n: number, prefix = 'word') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`).join(' ');

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dashboardDir = await buildDashboardForTests();
  database = await createTestDatabase();
  server = await start(0);
  base = server.url;
  port = Number(new URL(base).port);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}, 120_000);

afterEach(async () => {
  await context?.close();
  context = undefined;
  expect(pageErrors.splice(0), 'uncaught errors and CSP violations in the page').toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await database?.drop();
});

describe('dashboard in headless Chromium', () => {
  it('starts demo.tokens from the form and streams its text in place to completion', async () => {
    const page = await newPage();
    const text = words(24);
    await page.goto(`${base}/new`);
    await page.getByLabel('Workflow').selectOption('demo.tokens');
    await page.getByLabel('Input (JSON)').fill(JSON.stringify({ text, intervalMs: 60 }));
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop()!;

    // The text grows while the run is running: a partial text is on screen before the end.
    const stream = page.locator('.step[data-step="generate"] pre.stream');
    await page.locator('.run[data-status="running"] .step[data-step="generate"] pre.stream.streaming', { hasText: 'word3 ' }).waitFor();
    const partial = await stream.textContent();
    expect(text.startsWith(partial!)).toBe(true);
    expect(partial!.length).toBeLessThan(text.length);
    await page.screenshot({ path: join(artifacts, 'run-page-streaming-1280.png'), fullPage: true });

    await page.locator('.run[data-status="succeeded"]').waitFor();
    expect(await stream.textContent()).toBe(text);
    const run = await api<ApiRun>(`/runs/${id}`);
    await page.locator(`.timeline > li[data-seq="${run.lastSeq}"]`).waitFor();
    expect(await timelineSeqs(page)).toEqual(range(run.lastSeq));
    expect(await page.locator('[data-link]').getAttribute('data-link')).toBe('ended');
    await expect(page.getByRole('button', { name: 'Cancel run' }).isDisabled()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Retry run' }).isDisabled()).resolves.toBe(true);
    expect(await page.getByRole('link', { name: 'Raw event stream' }).getAttribute('href')).toBe(`/api/runs/${id}/stream`);
    await page.screenshot({ path: join(artifacts, 'run-page-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 400, height: 860 });
    await page.screenshot({ path: join(artifacts, 'run-page-400.png'), fullPage: true });
  });

  it('carries on across a server restart on the same port, without a duplicated or missing line', async () => {
    const text = words(60, 'restart');
    const run = await startRun('demo.tokens', { text, intervalMs: 50 });
    const page = await newPage();
    await page.goto(`${base}/runs/${run.id}`);
    await page.locator('.timeline > li[data-type="step.chunk"]').nth(4).waitFor();

    await server.close();
    // The page noticed: its stream is down and it is trying again on its own.
    await page.locator('[data-link="reconnecting"]').waitFor();
    const renderedWhenDown = Math.max(...(await timelineSeqs(page)));
    server = await start(port);
    expect(server.url).toBe(base);

    await page.locator('.run[data-status="succeeded"]').waitFor();
    const final = await api<ApiRun>(`/runs/${run.id}`);
    await page.locator(`.timeline > li[data-seq="${final.lastSeq}"]`).waitFor();
    expect(await timelineSeqs(page)).toEqual(range(final.lastSeq));
    // Lines committed while the page was cut off arrived after the restart, and the text is whole, once.
    expect(final.lastSeq).toBeGreaterThan(renderedWhenDown);
    expect(await page.locator('.step[data-step="generate"] pre.stream').textContent()).toBe(text);
  });

  it('shows the same timeline after a reload mid-run', async () => {
    const run = await startRun('demo.tokens', { text: words(40, 'reload'), intervalMs: 80 });
    const page = await newPage();
    await page.goto(`${base}/runs/${run.id}`);
    await page.locator('.timeline > li[data-type="step.chunk"]').nth(5).waitFor();
    const lines = () =>
      page.locator('.timeline > li').evaluateAll((items) => items.map((item) => (item.textContent ?? '').replace(/\s+/g, ' ')));
    const before = await lines();
    expect(await page.locator('.run').getAttribute('data-status')).toBe('running');

    await page.reload();
    await page.locator(`.timeline > li[data-seq="${before.length}"]`).waitFor();
    const after = await lines();
    expect(after.slice(0, before.length)).toEqual(before);
    await page.locator('.run[data-status="succeeded"]').waitFor();
    const final = await api<ApiRun>(`/runs/${run.id}`);
    await page.locator(`.timeline > li[data-seq="${final.lastSeq}"]`).waitFor();
    expect(await timelineSeqs(page)).toEqual(range(final.lastSeq));
  });

  it('cancels a running demo.countdown and shows it end cancelled', async () => {
    const run = await startRun('demo.countdown', { count: 200, intervalMs: 200 });
    const page = await newPage();
    await page.goto(`${base}/runs/${run.id}`);
    await page.locator('.run[data-status="running"]').waitFor();
    const cancel = page.getByRole('button', { name: 'Cancel run' });
    const retry = page.getByRole('button', { name: 'Retry run' });
    expect(await retry.isDisabled()).toBe(true);
    // Keyboard reachable: focus the button and press Enter.
    await cancel.focus();
    await page.keyboard.press('Enter');
    await page.locator('.run[data-status="cancelled"]').waitFor();
    await page.locator('.timeline > li[data-type="run.cancelled"]').waitFor();
    expect(await page.locator('.timeline > li[data-type="run.cancel_requested"]').count()).toBe(1);
    expect(await page.getByRole('button', { name: /Cancel/ }).isDisabled()).toBe(true);
    expect(await retry.isDisabled()).toBe(true);
    expect((await api<ApiRun>(`/runs/${run.id}`)).status).toBe('cancelled');
  });

  it('shows the schema’s errors inline before submit, and the server’s refusal after', async () => {
    const page = await newPage();
    const before = (await api<{ runs: ApiRun[] }>('/runs?limit=200')).runs.length;
    await page.goto(`${base}/new`);
    await page.getByLabel('Workflow').selectOption('demo.countdown');
    const input = page.getByLabel('Input (JSON)');

    await input.fill('{"count": "ten", "intervalMs": -5}');
    const clientErrors = page.locator('#input-errors .field-errors[data-origin="client"]');
    await clientErrors.getByText('must be integer (got string)').waitFor();
    expect(await clientErrors.innerText()).toContain('count');
    expect(await clientErrors.innerText()).toContain('intervalMs must be at least 0 (got -5)');
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    await page.getByRole('button', { name: 'Start run' }).click();
    // Refused in the page: still on the form, the input focused, nothing sent.
    expect(new URL(page.url()).pathname).toBe('/new');
    expect(await input.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);

    await input.fill('{"count": ');
    await clientErrors.getByText('Not valid JSON').waitFor();

    // Valid for the schema, refused by the server: an idempotency key longer than the API's 300 characters.
    await input.fill('{"count": 1, "intervalMs": 10}');
    await page.locator('#input-errors .field-errors').waitFor({ state: 'detached' });
    await page.getByLabel(/Idempotency key/).fill('k'.repeat(301));
    await page.getByRole('button', { name: 'Start run' }).click();
    const serverErrors = page.locator('#key-errors[data-origin="server"]');
    await serverErrors.waitFor();
    expect(await serverErrors.innerText()).toMatch(/The server refused this run/);
    expect(await serverErrors.innerText()).toMatch(/300/);
    expect(await page.getByLabel(/Idempotency key/).getAttribute('aria-invalid')).toBe('true');
    expect(new URL(page.url()).pathname).toBe('/new');
    await page.screenshot({ path: join(artifacts, 'start-form-errors-1280.png'), fullPage: true });
    expect((await api<{ runs: ApiRun[] }>('/runs?limit=200')).runs.length).toBe(before);
  });

  it('lists runs live: new runs appear and statuses change without a reload; filters; older pages', async () => {
    const page = await newPage();
    await page.goto(`${base}/`);
    await page.locator('table.runs tbody tr').first().waitFor();
    await page.locator('[data-link="live"]').waitFor();

    // Running until the test cancels it. The feed withholds transactions younger than the oldest one in flight on
    // the PostgreSQL server, so other test files' transactions can delay it, and a short run could go from queued
    // to succeeded in one late delivery; this one is certainly shown running first, then changes in place.
    const run = await startRun('demo.countdown', { count: 10_000, intervalMs: 50 });
    const row = page.locator(`table.runs tbody tr[data-run-id="${run.id}"]`);
    await row.waitFor();
    await page.locator(`tr[data-run-id="${run.id}"][data-status="running"]`).waitFor();
    await api(`/runs/${run.id}/cancel`, {});
    await page.locator(`tr[data-run-id="${run.id}"][data-status="cancelled"]`).waitFor();
    expect(await row.innerText()).toContain('Cancelled');
    expect(await page.locator('table.runs tbody tr').first().getAttribute('data-run-id')).toBe(run.id);
    await page.screenshot({ path: join(artifacts, 'runs-list-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 400, height: 860 });
    await page.screenshot({ path: join(artifacts, 'runs-list-400.png') });
    await page.setViewportSize({ width: 1280, height: 900 });

    // Filter by status: only the cancelled countdowns (this one and the earlier test's).
    await page.getByLabel('Status').selectOption('cancelled');
    await page.waitForURL(/status=cancelled/);
    await page.locator('table.runs tbody tr[data-status="cancelled"]').first().waitFor();
    expect(await page.locator('table.runs tbody tr:not([data-status="cancelled"])').count()).toBe(0);
    // Filter by workflow too: none of the cancelled runs is a demo.tokens run.
    await page.getByLabel('Workflow').selectOption('demo.tokens');
    await page.getByText('No runs match these filters').waitFor();
    await page.getByLabel('Status').selectOption('');
    await page.locator('table.runs tbody tr').first().waitFor();
    expect(await page.locator('table.runs tbody tr:not([data-run-id])').count()).toBe(0);
    const tokensRows = await page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((row) => row.textContent ?? ''));
    expect(tokensRows.length).toBeGreaterThan(0);
    expect(tokensRows.every((text) => text.includes('demo.tokens'))).toBe(true);

    // Paging: more runs than a page (25), then "Load older runs" follows the keyset cursor.
    await page.getByLabel('Workflow').selectOption('demo.sleep');
    await page.getByText('No runs match these filters').waitFor();
    for (let i = 0; i < 27; i++) await startRun('demo.sleep', { ms: 0 });
    const total = 27;
    await page.reload();
    await page.locator('table.runs tbody tr').nth(24).waitFor();
    expect(await page.locator('table.runs tbody tr').count()).toBe(25);
    await page.getByRole('button', { name: 'Load older runs' }).click();
    await page.locator('table.runs tbody tr').nth(total - 1).waitFor();
    const ids = await page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));
    expect(new Set(ids).size).toBe(total);
    expect(await page.getByRole('button', { name: 'Load older runs' }).count()).toBe(0);

  });

  it('shows failed runs with their last error in the dead letters, and retries one', async () => {
    // A run failed as the engine fails one (run.started, then run.failed in its log), for a workflow no worker of
    // this server runs, so nothing picks it up again behind the test's back.
    const runtime: Runtime = await createRuntime({ databaseUrl: database.url, namespace: database.name, poolSize: 2 });
    let failedId = '';
    try {
      const { run } = await runtime.runs.create({ workflow: 'test.unregistered', input: {} });
      failedId = run.id;
      await runtime.eventLog.append(run.id, [
        { type: 'run.started', data: { attempt: 1, workerId: 'test' } },
        { type: 'run.failed', data: { error: { name: 'PaymentError', message: 'card declined' }, step: 'charge' } },
      ]);
    } finally {
      await runtime.close();
    }

    const page = await newPage();
    await page.goto(`${base}/failed`);
    const row = page.locator(`tr[data-run-id="${failedId}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain('PaymentError: card declined');
    await page.screenshot({ path: join(artifacts, 'dead-letters-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 400, height: 860 });
    await page.screenshot({ path: join(artifacts, 'dead-letters-400.png') });

    await row.getByRole('button', { name: /Retry/ }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByText(/was sent back to the queue/).waitFor();
    expect((await api<ApiRun>(`/runs/${failedId}`)).status).toBe('queued');

    // The run page of a failed run offers retry, not cancel.
    const other = await (async () => {
      const rt = await createRuntime({ databaseUrl: database.url, namespace: database.name, poolSize: 2 });
      try {
        const { run } = await rt.runs.create({ workflow: 'test.unregistered', input: {} });
        await rt.eventLog.append(run.id, [
          { type: 'run.started', data: { attempt: 1, workerId: 'test' } },
          { type: 'run.failed', data: { error: { name: 'Error', message: 'boom' } } },
        ]);
        return run.id;
      } finally {
        await rt.close();
      }
    })();
    await page.goto(`${base}/runs/${other}`);
    await page.locator('.run[data-status="failed"]').waitFor();
    expect(await page.getByRole('button', { name: 'Cancel run' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Retry run' }).click();
    await page.locator('.run[data-status="queued"]').waitFor();
    await page.locator('.timeline > li[data-type="run.retried"]').waitFor();
  });
  it('asks for a token when the server requires one, then streams with a run-scoped read token', async () => {
    const token = 'dashboard-test-api-token-0123456789';
    await server.close();
    server = await start(port, token);
    const run = (await api<{ run: ApiRun }>('/runs', { workflow: 'demo.tokens', input: { text: words(12, 'auth'), intervalMs: 40 } }, token)).run;

    const page = await newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(`${base}/runs/${run.id}`);
    const tokenInput = page.getByLabel('API token');
    await tokenInput.fill(token);
    await tokenInput.press('Enter');
    await page.locator('.run[data-status="succeeded"]').waitFor();
    expect(await page.locator('.step[data-step="generate"] pre.stream').textContent()).toBe(words(12, 'auth'));
    const final = await api<ApiRun>(`/runs/${run.id}`, undefined, token);
    expect(await timelineSeqs(page)).toEqual(range(final.lastSeq));
    // The event stream was opened with a minted read token, and the API token never went into a URL.
    expect(requests.some((url) => url.includes(`/api/runs/${run.id}/stream?`) && /[?&]token=rs1\./.test(url))).toBe(true);
    expect(requests.some((url) => url.includes(token))).toBe(false);

    // The runs list reads the feed with the bearer header: a new run appears live.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
    await page.locator('[data-link="live"]').waitFor();
    const next = (await api<{ run: ApiRun }>('/runs', { workflow: 'demo.countdown', input: { count: 1, intervalMs: 10 } }, token)).run;
    await page.locator(`tr[data-run-id="${next.id}"][data-status="succeeded"]`).waitFor();
  });
});
