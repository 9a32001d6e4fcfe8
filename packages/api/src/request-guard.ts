import { ORPCError } from '@orpc/server';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { unauthorizedMessages, type Authenticator, type Credential } from './auth.js';
import type { RouteAccess } from './http-routing.js';

/** A request the guard turns away before any handler runs (and before its body is read). */
export interface Refusal {
  status: number;
  /** The error, as oRPC's JSON error body (`{ defined, code, status, message, data }`). */
  error: object;
  /** The request still has a body on the wire: close the connection rather than read it. */
  closeConnection: boolean;
}

export interface RequestGuardConfig {
  auth: Authenticator;
  /** Origins (`https://host[:port]`) allowed to write besides the request's own (its `Host`). */
  allowedOrigins: readonly string[];
  /** A body declared larger is refused on the headers (oRPC's body limit cuts longer chunked ones as they arrive). */
  maxBodyBytes: number;
}

/** What an unauthenticated request may declare as its body on a route that takes the credential from the body. */
export const MAX_UNAUTHENTICATED_BODY_BYTES = 4_096;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * `localhost` (and `*.localhost`, which browsers resolve to loopback themselves), `127.0.0.0/8` and `::1`, with or
 * without IPv6 brackets: names and addresses that mean this machine whatever a DNS server answers.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.startsWith('::ffff:127.');
  return false;
}

/** The `Host` header's name (without port), as a browser's URL parser reads it; undefined when it is not one. */
function hostName(host: string | undefined): string | undefined {
  return host && URL.canParse(`http://${host}`) ? new URL(`http://${host}`).hostname : undefined;
}

/** `https://Example.com:443` → `https://example.com`; null when it is not an origin (http[s]://host[:port], nothing after it). */
export function parseOrigin(origin: string): string | null {
  if (!URL.canParse(origin)) return null;
  const url = new URL(origin);
  const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
  return bare && (url.protocol === 'http:' || url.protocol === 'https:') ? url.origin : null;
}

/**
 * The request's own origin: the `Origin` names the host and port the request was sent to. The scheme is not
 * compared: the server cannot tell it (TLS ends at a proxy), and one host and port serve one scheme.
 */
function isOwnOrigin(origin: URL, host: string | undefined): boolean {
  const own = `${origin.protocol}//${host}`;
  const web = origin.protocol === 'http:' || origin.protocol === 'https:';
  return web && host !== undefined && URL.canParse(own) && new URL(own).host === origin.host;
}

function refusal(req: IncomingMessage, status: number, code: string, field: string, message: string): Refusal {
  const data = { field, issues: [{ field, message }] };
  return { status, error: { defined: false, code, status, message, data }, closeConnection: hasBody(req) };
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
}

/** The body size the request declares; undefined when it does not say (chunked). */
function declaredBodyBytes(req: IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  return Number(req.headers['content-length'] ?? 0);
}

/**
 * The checks every request passes before its route's handler runs, on its headers alone:
 *
 * - without tokens, only loopback `Host` names are served (421): a DNS-rebinding page reaches the server under
 *   its own name, and would otherwise read every run;
 * - a write (any method but GET, HEAD, OPTIONS) needs `Content-Type: application/json` (415), which a browser
 *   sends cross-site only after a CORS preflight this server never grants, and must not come from a foreign
 *   `Origin` (403);
 * - with tokens, a route that is not public needs a valid credential in the headers or the query (401) before
 *   its body is read (a body costs memory and time to receive); the RPC run stream may instead carry a read
 *   token in a body of at most `MAX_UNAUTHENTICATED_BODY_BYTES`;
 * - a body declared larger than `maxBodyBytes` is refused (413) before it is sent.
 */
export function createRequestGuard(config: RequestGuardConfig) {
  const { auth } = config;
  const allowedOrigins = new Set(
    config.allowedOrigins.map((origin) => {
      const parsed = parseOrigin(origin);
      if (parsed === null) throw new TypeError(`allowedOrigins: ${JSON.stringify(origin)} is not an origin (http[s]://host[:port], nothing after it)`);
      return parsed;
    }),
  );

  /** `access` is the matched route's (undefined: no route matched); `credential` is the one in the headers or query. */
  return function check(req: IncomingMessage, access: RouteAccess | undefined, credential: Credential | undefined): Refusal | null {
    const host = req.headers.host;
    if (auth.open) {
      const name = hostName(host);
      if (name === undefined || !isLoopbackHost(name)) {
        return refusal(
          req,
          421,
          'MISDIRECTED_REQUEST',
          'Host',
          `this server has no API tokens and answers only loopback Host names (localhost, 127.0.0.1, [::1]); got ${JSON.stringify(host ?? null)}`,
        );
      }
    }
    if (access === undefined) return null;

    if (!SAFE_METHODS.has(req.method ?? 'GET')) {
      const origin = req.headers.origin;
      if (origin !== undefined) {
        const parsed = URL.canParse(origin) ? new URL(origin) : undefined;
        if (!parsed || (!isOwnOrigin(parsed, host) && !allowedOrigins.has(parsed.origin))) {
          return refusal(req, 403, 'ORIGIN_NOT_ALLOWED', 'Origin', `writes are not accepted from the origin ${JSON.stringify(origin)}`);
        }
      }
      const mediaType = req.headers['content-type']?.split(';')[0]?.trim();
      if (mediaType !== 'application/json') {
        return refusal(
          req,
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          'Content-Type',
          `a ${req.method} needs Content-Type: application/json (even without a body); got ${JSON.stringify(req.headers['content-type'] ?? null)}`,
        );
      }
    }

    const declared = declaredBodyBytes(req);
    if (access !== 'public' && !auth.open) {
      const result = auth.authenticate(credential);
      const bodyMayCarryIt =
        access === 'credential-or-body' && credential === undefined && declared !== undefined && declared <= MAX_UNAUTHENTICATED_BODY_BYTES;
      if (!result.ok && !bodyMayCarryIt) {
        const error = new ORPCError('UNAUTHORIZED', { defined: true, status: 401, message: unauthorizedMessages[result.reason] });
        return { status: 401, error: error.toJSON(), closeConnection: hasBody(req) };
      }
    }
    if (declared !== undefined && declared > config.maxBodyBytes) {
      return refusal(req, 413, 'PAYLOAD_TOO_LARGE', 'Content-Length', `the body may be at most ${config.maxBodyBytes} bytes; ${declared} declared`);
    }
    return null;
  };
}
