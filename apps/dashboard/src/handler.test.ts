import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardHandler } from './handler.js';

let dist: string;
let missing: string;
let server: Server;
let base: string;

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), 'rs-dashboard-'));
  missing = join(dist, 'not-built');
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>dash</title>');
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(join(dist, 'secret.txt'), 'not served');
  const dashboard = createDashboardHandler({ distDir: dist });
  const unbuilt = createDashboardHandler({ distDir: missing });
  server = createServer((req, res) => {
    const handler = req.headers['x-unbuilt'] ? unbuilt : dashboard;
    if (!handler(req, res)) res.writeHead(404).end('fallthrough');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dist, { recursive: true, force: true });
});

describe('dashboard handler', () => {
  it.each(['/', '/runs', '/runs/0b7c2d4e-0000-4000-8000-000000000000', '/new', '/failed?x=1'])(
    'answers the page route %s with index.html, never cached',
    async (path) => {
      const response = await fetch(base + path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await response.text()).toContain('<title>dash</title>');
    },
  );

  it('serves hashed assets with their content type, cached as immutable, and revalidates by etag', async () => {
    const js = await fetch(`${base}/assets/index-abc123.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await js.text()).toBe('console.log(1)');
    const css = await fetch(`${base}/assets/index-abc123.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const again = await fetch(`${base}/assets/index-abc123.js`, { headers: { 'if-none-match': js.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('answers HEAD without a body', async () => {
    const response = await fetch(`${base}/`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('content-length'))).toBeGreaterThan(0);
  });

  it.each([
    ['GET', '/api/runs'],
    ['GET', '/rpc/runs/list'],
    ['GET', '/assets/nope.js'],
    ['GET', '/assets/%2e%2e/secret.txt'],
    ['GET', '/secret.txt'],
    ['GET', '/favicon.ico'],
    ['POST', '/'],
  ])('leaves %s %s to the server', async (method, path) => {
    const response = await fetch(base + path, { method });
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('fallthrough');
  });

  it('says how to build the dashboard when it is not built', async () => {
    const response = await fetch(`${base}/runs/x`, { headers: { 'x-unbuilt': '1' } });
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('pnpm build:dashboard');
  });
});
