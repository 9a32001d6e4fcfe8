/** Driver and socket codes of a connection that failed or could not be made (postgres.js, ioredis, node:net). */
const connectionErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * PostgreSQL's own outage codes: connection exceptions (class 08), the server shutting down or starting
 * (57P01–57P03), too many connections (53300).
 */
function isPostgresOutageCode(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/** A call to a dependency that did not answer within its bound: it may still complete, so it is an outage too. */
export class DependencyTimeoutError extends Error {
  override name = 'DependencyTimeoutError';
  readonly code = 'DEPENDENCY_TIMEOUT';
  constructor(readonly what: string, readonly timeoutMs: number) {
    super(`${what} did not answer within ${timeoutMs} ms`);
  }
}

/**
 * Whether `error` (or what caused it: drizzle wraps the driver's error) says a dependency could not be reached:
 * the API answers it with 503, the engine retries the write instead of failing the step.
 */
export function isDependencyOutage(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') return false;
    if (current instanceof DependencyTimeoutError) return true;
    const code = 'code' in current ? current.code : undefined;
    if (typeof code === 'string' && (connectionErrorCodes.has(code) || isPostgresOutageCode(code))) return true;
    if (current instanceof Error && /^Connection is closed\.?$/.test(current.message)) return true;
    current = 'cause' in current ? current.cause : undefined;
  }
  return false;
}
