import type { ApiServer } from '@runstream/api';
import { createDashboardHandler } from '@runstream/dashboard';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface MountOptions {
  /**
   * Where the app mounts Runstream, e.g. `/runstream`: requests under it are served with the prefix removed
   * (Express's `app.use(path, …)` removes it already, which is fine too). The dashboard is served only when
   * mounted at the root, since its pages address the API at `/api`.
   */
  basePath?: string;
}

/** A node:http request listener; Express and Fastify (`reply.hijack()`, then `req.raw`, `reply.raw`) take it. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;
export type FetchHandler = (request: Request) => Promise<Response>;

function normalizeBasePath(basePath: string | undefined): string {
  if (!basePath || basePath === '/') return '';
  if (!basePath.startsWith('/')) throw new TypeError(`basePath must start with "/" (got ${JSON.stringify(basePath)})`);
  return basePath.replace(/\/+$/, '');
}

/**
 * The built dashboard: the published package carries it in `dist/dashboard` beside its code; in this repository
 * (running from source) it is the dashboard package's own build.
 */
function dashboardFiles(): { distDir?: string } {
  const shipped = new URL('./dashboard', import.meta.url);
  return existsSync(shipped) ? { distDir: fileURLToPath(shipped) } : {};
}

export function createNodeHandler(api: ApiServer, options: MountOptions = {}, dashboardDir?: string): NodeHandler {
  const basePath = normalizeBasePath(options.basePath);
  const dashboard = basePath === '' ? createDashboardHandler(dashboardDir ? { distDir: dashboardDir } : dashboardFiles()) : null;
  return (req, res) => {
    const url = req.url ?? '/';
    if (basePath && (url === basePath || url.startsWith(`${basePath}/`) || url.startsWith(`${basePath}?`))) {
      req.url = url.slice(basePath.length) || '/';
      if (req.url.startsWith('?')) req.url = `/${req.url}`;
    }
    // Express keeps the unmounted path in `originalUrl`, which oRPC's node adapter prefers over `url`.
    if ('originalUrl' in req) (req as IncomingMessage & { originalUrl: string }).originalUrl = req.url ?? '/';
    if (dashboard?.(req, res)) return;
    void api.handle(req, res);
  };
}

/**
 * The node handler behind a fetch-style one. The API writes its streams straight to node sockets, so requests
 * go through a private HTTP server on a loopback port (started on the first request, closed with Runstream):
 * streaming responses stay streaming, and the code path is the one every other mount uses.
 */
export function createFetchHandler(handler: NodeHandler, onServerStarted: (server: { close(): Promise<void> }) => void): FetchHandler {
  let origin: Promise<string> | null = null;
  const start = () =>
    (origin ??= new Promise<string>((resolve, reject) => {
      const server: Server = createServer((req, res) => handler(req, res));
      server.once('error', reject);
      server.listen({ port: 0, host: '127.0.0.1' }, () => {
        const { port } = server.address() as AddressInfo;
        onServerStarted({
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              server.closeAllConnections();
            }),
        });
        resolve(`http://127.0.0.1:${port}`);
      });
    }));
  return async (request) => {
    const target = new URL(request.url);
    const forwarded = new Request(`${await start()}${target.pathname}${target.search}`, request);
    return fetch(forwarded, { redirect: 'manual' });
  };
}
