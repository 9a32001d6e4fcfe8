import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `vite build` puts the dashboard: apps/dashboard/dist. */
export const dashboardDistDir = fileURLToPath(new URL('../dist', import.meta.url));

export interface DashboardHandlerOptions {
  /** The built dashboard (default: apps/dashboard/dist). */
  distDir?: string;
}

/** Serves the request and returns true, or returns false when it is not the dashboard's (the caller 404s it). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The page routes of the single-page app: each is answered with index.html and routed in the browser. */
export function isPageRoute(path: string): boolean {
  return path === '/' || path === '/new' || path === '/failed' || path === '/runs' || path.startsWith('/runs/');
}

const securityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  // Everything the page loads comes from this server (no CDN): scripts, styles and API calls alike.
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
};

/**
 * The dashboard's static files, for the API server to mount on GET/HEAD requests that are not the API's:
 * `index.html` for the page routes (`/`, `/runs/*`, `/new`, `/failed`; never cached, so a new build is picked
 * up at once), hashed files under `/assets/` (cached for a year, immutable), and nothing else. A request for
 * a page while the dashboard is not built gets a 503 saying how to build it.
 */
export function createDashboardHandler(options: DashboardHandlerOptions = {}): DashboardHandler {
  const root = resolve(options.distDir ?? dashboardDistDir);
  const index = join(root, 'index.html');

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://dashboard').pathname);
    } catch {
      return false;
    }
    if (path === '/api' || path.startsWith('/api/') || path === '/rpc' || path.startsWith('/rpc/')) return false;

    if (isPageRoute(path)) {
      if (!existsSync(index)) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end('The dashboard is not built. Run `pnpm build:dashboard` (or `pnpm start`, which builds it first).\n');
        return true;
      }
      sendFile(req, res, index, 'no-cache');
      return true;
    }

    if (path.startsWith('/assets/')) {
      const file = resolve(root, `.${path}`);
      // Only files inside dist/assets, never a path that climbs out of it.
      if (!file.startsWith(join(root, 'assets') + sep) || !isFile(file)) return false;
      sendFile(req, res, file, 'public, max-age=31536000, immutable');
      return true;
    }
    return false;
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cacheControl: string) {
  const stat = statSync(file);
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const headers = {
    'content-type': contentTypes[extname(file)] ?? 'application/octet-stream',
    'cache-control': cacheControl,
    etag,
    'last-modified': stat.mtime.toUTCString(),
    ...securityHeaders,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': stat.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', (error) => res.destroy(error))
    .pipe(res);
}
