import { ORPCError } from '@orpc/server';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface ApiAuthConfig {
  /**
   * Bearer tokens granting full access. Empty: every call is allowed (bind the server to loopback then).
   */
  tokens: string[];
  /** HMAC-SHA256 key signing the per-run read tokens minted by `POST /api/runs/{id}/token`. */
  readTokenSecret: string;
  /** How long a minted read token may be used to open a stream or read its run. Default 15 minutes. */
  readTokenTtlMs?: number;
  /** Where time comes from for read-token expiry (tests). Default `Date.now`. */
  now?: () => number;
}

/** Who a request acts as: a full API client, or the holder of a read token for one run. */
export type Principal = { kind: 'full' } | { kind: 'read'; runId: string; expiresAt: Date };

/**
 * A presented token and where it came from: the `Authorization` header, or a `?token=` query parameter or the
 * input's `token` field (for clients that cannot send headers, `EventSource`). Only read tokens count there: an
 * API token would end up in URLs, logs and histories, and a link could make a browser write with it.
 */
export interface Credential {
  token: string;
  from: 'header' | 'parameter';
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'not-in-header' };

const READ_TOKEN_VERSION = 'rs1';
export const DEFAULT_READ_TOKEN_TTL_MS = 15 * 60_000;

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/**
 * A read token for one run: `rs1.<runId>.<expiresAtMs>.<base64url HMAC-SHA256 of the rest>`. It grants reading and
 * streaming that run only, until `expiresAt`. Exported so tests (and operators) can mint one with any expiry.
 */
export function mintReadToken(secret: string, runId: string, expiresAt: Date): string {
  const payload = `${READ_TOKEN_VERSION}.${runId}.${expiresAt.getTime()}`;
  return `${payload}.${sign(secret, payload).toString('base64url')}`;
}

/** The run and expiry a read token grants, `'expired'`, or `'invalid'` (malformed, or signed with another key). */
export function verifyReadToken(
  secret: string,
  token: string,
  nowMs: number = Date.now(),
): { runId: string; expiresAt: Date } | 'invalid' | 'expired' {
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== READ_TOKEN_VERSION) return 'invalid';
  const [, runId, expires, signature] = parts as [string, string, string, string];
  if (!/^\d{1,16}$/.test(expires) || runId === '') return 'invalid';
  const expected = sign(secret, `${READ_TOKEN_VERSION}.${runId}.${expires}`);
  const given = decodeBase64urlStrictly(signature);
  if (given === null) return 'invalid';
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  const expiresAt = Number(expires);
  if (expiresAt <= nowMs) return 'expired';
  return { runId, expiresAt: new Date(expiresAt) };
}

/**
 * Base64url without padding, in its one canonical spelling, or null. Node's decoder skips characters outside the
 * alphabet and ignores unused trailing bits, so `sig=`, `sig!!` or a changed last character would decode to the
 * same bytes and pass as the same signature.
 */
function decodeBase64urlStrictly(text: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

/** The credential a request presents: `Authorization: Bearer <t>`, else the `token` query parameter. */
export function requestCredential(headers: IncomingHttpHeaders, url: URL): Credential | undefined {
  const header = headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return { token: match?.[1] ?? '', from: 'header' };
  }
  const parameter = url.searchParams.get('token');
  return parameter === null ? undefined : { token: parameter, from: 'parameter' };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

export type Authenticator = ReturnType<typeof createAuthenticator>;

export function createAuthenticator(config: ApiAuthConfig) {
  if (typeof config.readTokenSecret !== 'string' || config.readTokenSecret.length < 16) {
    throw new TypeError('auth.readTokenSecret must be a string of at least 16 characters');
  }
  const tokenDigests = config.tokens.map(digest);
  const ttlMs = config.readTokenTtlMs ?? DEFAULT_READ_TOKEN_TTL_MS;
  const now = config.now ?? Date.now;
  const open = tokenDigests.length === 0;

  return {
    /** True when no tokens are configured: every call is allowed. */
    open,
    authenticate(credential: Credential | undefined): AuthResult {
      if (open) return { ok: true, principal: { kind: 'full' } };
      if (credential === undefined) return { ok: false, reason: 'missing' };
      // Compare digests (equal length) against every token, without stopping at the first match.
      const given = digest(credential.token);
      let full = false;
      for (const known of tokenDigests) full = timingSafeEqual(given, known) || full;
      if (full) return credential.from === 'header' ? { ok: true, principal: { kind: 'full' } } : { ok: false, reason: 'not-in-header' };
      const read = verifyReadToken(config.readTokenSecret, credential.token, now());
      if (read === 'invalid' || read === 'expired') return { ok: false, reason: read };
      return { ok: true, principal: { kind: 'read', ...read } };
    },
    mint(runId: string): { token: string; expiresAt: Date } {
      const expiresAt = new Date(now() + ttlMs);
      return { token: mintReadToken(config.readTokenSecret, runId, expiresAt), expiresAt };
    },
  };
}

/** What a 401 says, by why the credential was refused. */
export const unauthorizedMessages = {
  missing: 'a valid bearer token is required',
  invalid: 'the token is not valid',
  expired: 'the read token has expired',
  'not-in-header': 'an API token is accepted only in the Authorization header',
} as const;

export function forbidden(message: string) {
  return new ORPCError('FORBIDDEN', { status: 403, message });
}

/** A read token reads only its own run. */
export function assertCanRead(principal: Principal, runId: string): void {
  if (principal.kind === 'read' && principal.runId !== runId) throw forbidden('this read token is for another run');
}
