import type { ClientRequest, IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const api = process.env.RUNSTREAM_URL ?? 'http://127.0.0.1:7420';

/** A page of this dev server writes with its own `Origin`, which the API would refuse as foreign: pass the API's. */
function sameOriginForApi(proxyReq: ClientRequest, req: IncomingMessage) {
  const { origin, host } = req.headers;
  if (typeof origin !== 'string' || !URL.canParse(origin)) return;
  if (new URL(origin).host === host) proxyReq.setHeader('origin', new URL(api).origin);
}

/**
 * The dashboard is a static single-page app: `web/` is the Vite root, the build lands in `dist/` (hashed files
 * under `dist/assets/`), and the server serves it (see src/handler.ts). Preact's JSX goes through Vite's own
 * esbuild transform, so no framework plugin is needed. `pnpm dev` proxies the API to a running server.
 */
export default defineConfig({
  root: `${here}web`,
  base: '/',
  publicDir: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: `${here}dist`,
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: true, configure: (proxy) => proxy.on('proxyReq', sameOriginForApi) },
    },
  },
});
