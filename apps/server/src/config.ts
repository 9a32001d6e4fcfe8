import { isLoopbackHost, parseOrigin } from '@runstream/api';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaults } from '@runstream/domain';
import { z } from 'zod';

export const roles = ['api', 'worker', 'all'] as const;
export type Role = (typeof roles)[number];

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface ServerConfig {
  /** PostgreSQL to use; absent means an embedded PostgreSQL under `dataDir`. */
  databaseUrl?: string;
  /** Redis for the job queue; absent means BullMQ's PostgreSQL backend on the same database. */
  redisUrl?: string;
  port: number;
  host: string;
  role: Role;
  namespace: string;
  /** Bearer tokens accepted by the API; empty means auth is off (and only a loopback host is allowed). */
  apiTokens: string[];
  /** Origins whose pages may write to the API besides its own (e.g. the public one behind a proxy). */
  allowedOrigins: string[];
  /** A request's headers must arrive within this, ms (408 and closed otherwise). */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this, ms; responses (SSE) are not cut. */
  requestTimeoutMs: number;
  /** Connections the API's HTTP server holds at once; it closes any beyond, unanswered. */
  maxConnections: number;
  /** HMAC secret for per-run read tokens; absent means a random one per start. */
  readTokenSecret?: string;
  workerConcurrency: number;
  /**
   * How long a worker's claim on a run lasts without a heartbeat: a worker that dies (SIGKILL, lost host) holds
   * its runs this long before another worker takes them over. Heartbeats renew it at a third of this.
   */
  leaseMs: number;
  /** Connections in the server's PostgreSQL pool (the runtime's; the LISTEN connection and the queue's come on top). */
  databasePoolSize: number;
  /** How long startup waits for the job queue's backend (Redis, or the queue's PostgreSQL schema) to answer. */
  startupTimeoutMs: number;
  dataDir: string;
  embeddedPgPort: number;
  logLevel: LogLevel;
  /** RUNSTREAM_WORKFLOWS: the module of the workflows to run (absolute); absent means the demo workflows. */
  workflowsModule?: string;
  /** RUNSTREAM_DEMO: load the demo workflows beside the module's. */
  demoWorkflows: boolean;
  /**
   * Register the OpenTelemetry Node SDK (traces only), which reads its own `OTEL_*` variables: on when
   * `OTEL_TRACES_EXPORTER` names an exporter or an OTLP endpoint is set, and `OTEL_SDK_DISABLED` is not true.
   */
  traces: boolean;
}

/** The repository root: apps/server/src → ../../.. */
export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses a `.env` file: `KEY=value` lines, `#` comments, an optional `export ` prefix, values optionally in
 * single or double quotes (double quotes understand `\n`). Enough for configuration; no interpolation.
 */
export function parseDotEnv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const key = match[1]!;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    values[key] = value;
  }
  return values;
}

/** The process environment over the `.env` file in `cwd` (if there is one): real variables win. */
export function readEnvironment(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env) {
  const file = join(cwd, '.env');
  const fromFile = existsSync(file) ? parseDotEnv(readFileSync(file, 'utf8')) : {};
  return { env: { ...fromFile, ...env } as Record<string, string | undefined>, envFile: existsSync(file) ? file : null };
}

export { isLoopbackHost };

/** Blank values (`PORT=` in a .env file) count as unset. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), schema.optional());

const got = (value: unknown) => `got ${JSON.stringify(value)}`;

const integer = (name: string, min: number, max: number, fallback: number) =>
  optional(z.string()).transform((value, ctx) => {
    if (value === undefined) return fallback;
    const trimmed = value.trim();
    const parsed = Number(trimmed);
    if (!/^\d+$/.test(trimmed) || parsed < min || parsed > max) {
      ctx.addIssue({ code: 'custom', message: `${name} must be an integer between ${min} and ${max}, ${got(value)}` });
      return z.NEVER;
    }
    return parsed;
  });

const url = (name: string, protocols: string[]) => {
  const schemes = protocols.map((protocol) => `${protocol}//`).join(' or ');
  return optional(z.string()).transform((value, ctx) => {
    if (value === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value.trim());
    } catch {
      ctx.addIssue({ code: 'custom', message: `${name} must be a URL (${schemes}…), ${got(redact(value))}` });
      return z.NEVER;
    }
    if (!protocols.includes(parsed.protocol)) {
      ctx.addIssue({ code: 'custom', message: `${name} must start with ${schemes}, ${got(redact(value))}` });
      return z.NEVER;
    }
    return value.trim();
  });
};

const oneOf = <T extends string>(name: string, values: readonly T[], fallback: T) =>
  optional(z.string()).transform((value, ctx) => {
    if (value === undefined) return fallback;
    const normalized = value.trim().toLowerCase() as T;
    if (!values.includes(normalized)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be one of ${values.join(', ')}, ${got(value)}` });
      return z.NEVER;
    }
    return normalized;
  });

const envSchema = z.object({
  DATABASE_URL: url('DATABASE_URL', ['postgres:', 'postgresql:']),
  REDIS_URL: url('REDIS_URL', ['redis:', 'rediss:']),
  PORT: integer('PORT', 1, 65_535, 7420),
  HOST: optional(z.string()).transform((value) => value?.trim() || '127.0.0.1'),
  RUNSTREAM_ROLE: oneOf('RUNSTREAM_ROLE', roles, 'all'),
  RUNSTREAM_NAMESPACE: optional(z.string()).transform((value, ctx) => {
    if (value === undefined) return 'runstream';
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/.test(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `RUNSTREAM_NAMESPACE must be 1-48 letters, digits, '_' or '-' (starting with a letter or digit), ${got(value)}`,
      });
      return z.NEVER;
    }
    return value;
  }),
  RUNSTREAM_API_TOKEN: optional(z.string()).transform((value, ctx) => {
    const tokens = (value ?? '').split(',').map((token) => token.trim()).filter(Boolean);
    const short = tokens.filter((token) => token.length < 16 || /\s/.test(token));
    if (short.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `RUNSTREAM_API_TOKEN must be a comma-separated list of tokens of at least 16 characters without spaces; ${short.length} of ${tokens.length} ${short.length === 1 ? 'is' : 'are'} not`,
      });
      return z.NEVER;
    }
    return tokens;
  }),
  RUNSTREAM_ALLOWED_ORIGINS: optional(z.string()).transform((value, ctx) => {
    const origins = (value ?? '').split(',').map((origin) => origin.trim()).filter(Boolean);
    const bad = origins.filter((origin) => parseOrigin(origin) === null);
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `RUNSTREAM_ALLOWED_ORIGINS must be a comma-separated list of origins (http[s]://host[:port], nothing after it), got ${bad.map((origin) => JSON.stringify(origin)).join(', ')}`,
      });
      return z.NEVER;
    }
    return origins.map((origin) => parseOrigin(origin)!);
  }),
  RUNSTREAM_READ_TOKEN_SECRET: optional(z.string()).transform((value, ctx) => {
    if (value !== undefined && value.length < 32) {
      ctx.addIssue({
        code: 'custom',
        message: `RUNSTREAM_READ_TOKEN_SECRET must be at least 32 characters, got ${value.length} (e.g. \`openssl rand -hex 32\`)`,
      });
      return z.NEVER;
    }
    return value;
  }),
  RUNSTREAM_HEADERS_TIMEOUT_MS: integer('RUNSTREAM_HEADERS_TIMEOUT_MS', 100, 600_000, defaults.httpHeadersTimeoutMs),
  RUNSTREAM_REQUEST_TIMEOUT_MS: integer('RUNSTREAM_REQUEST_TIMEOUT_MS', 100, 3_600_000, defaults.httpRequestTimeoutMs),
  RUNSTREAM_MAX_CONNECTIONS: integer('RUNSTREAM_MAX_CONNECTIONS', 1, 1_000_000, defaults.httpMaxConnections),
  WORKER_CONCURRENCY: integer('WORKER_CONCURRENCY', 1, 1_000, defaults.workerConcurrency),
  RUNSTREAM_LEASE_MS: integer('RUNSTREAM_LEASE_MS', 1_000, 3_600_000, defaults.leaseMs),
  DATABASE_POOL_SIZE: integer('DATABASE_POOL_SIZE', 1, 1_000, defaults.databasePoolSize),
  RUNSTREAM_STARTUP_TIMEOUT_MS: integer('RUNSTREAM_STARTUP_TIMEOUT_MS', 100, 3_600_000, 10_000),
  RUNSTREAM_DATA_DIR: optional(z.string()),
  EMBEDDED_PG_PORT: integer('EMBEDDED_PG_PORT', 1, 65_535, 54329),
  LOG_LEVEL: oneOf('LOG_LEVEL', logLevels, 'info'),
  RUNSTREAM_WORKFLOWS: optional(z.string()),
  RUNSTREAM_DEMO: oneOf('RUNSTREAM_DEMO', ['true', 'false', '1', '0'], 'false'),
  OTEL_SDK_DISABLED: optional(z.string()).transform((value) => value?.trim().toLowerCase() === 'true'),
  OTEL_TRACES_EXPORTER: optional(z.string()).transform((value, ctx) => {
    const exporters = (value ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);
    const unknown = exporters.filter((name) => !traceExporters.includes(name));
    if (unknown.length > 0) {
      ctx.addIssue({ code: 'custom', message: `OTEL_TRACES_EXPORTER must list ${traceExporters.join(', ')}, ${got(value)}` });
      return z.NEVER;
    }
    return exporters;
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']),
});

/** The span exporters the OpenTelemetry Node SDK builds from `OTEL_TRACES_EXPORTER`. */
const traceExporters = ['otlp', 'zipkin', 'console', 'none'];

/** Whether the OTEL_* variables ask for traces (the SDK itself reads them again for the details). */
function tracesWanted(e: { OTEL_SDK_DISABLED: boolean; OTEL_TRACES_EXPORTER: string[]; OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined }): boolean {
  if (e.OTEL_SDK_DISABLED) return false;
  if (e.OTEL_TRACES_EXPORTER.length > 0) return e.OTEL_TRACES_EXPORTER.some((name) => name !== 'none');
  return Boolean(e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Validates the environment into a `ServerConfig`, or throws a `ConfigError` listing every problem, each naming
 * its variable. `cwd` resolves a relative RUNSTREAM_DATA_DIR.
 */
export function parseConfig(env: Record<string, string | undefined>, cwd: string = process.cwd()): ServerConfig {
  const result = envSchema.safeParse(env);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => issue.message));
  const e = result.data;
  const config: ServerConfig = {
    ...(e.DATABASE_URL ? { databaseUrl: e.DATABASE_URL } : {}),
    ...(e.REDIS_URL ? { redisUrl: e.REDIS_URL } : {}),
    port: e.PORT,
    host: e.HOST,
    role: e.RUNSTREAM_ROLE,
    namespace: e.RUNSTREAM_NAMESPACE,
    apiTokens: e.RUNSTREAM_API_TOKEN,
    allowedOrigins: e.RUNSTREAM_ALLOWED_ORIGINS,
    headersTimeoutMs: e.RUNSTREAM_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.RUNSTREAM_REQUEST_TIMEOUT_MS,
    maxConnections: e.RUNSTREAM_MAX_CONNECTIONS,
    ...(e.RUNSTREAM_READ_TOKEN_SECRET ? { readTokenSecret: e.RUNSTREAM_READ_TOKEN_SECRET } : {}),
    workerConcurrency: e.WORKER_CONCURRENCY,
    leaseMs: e.RUNSTREAM_LEASE_MS,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    startupTimeoutMs: e.RUNSTREAM_STARTUP_TIMEOUT_MS,
    dataDir: resolve(cwd, e.RUNSTREAM_DATA_DIR ?? join(repoRoot, '.runstream')),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    logLevel: e.LOG_LEVEL,
    ...(e.RUNSTREAM_WORKFLOWS ? { workflowsModule: resolve(cwd, e.RUNSTREAM_WORKFLOWS.trim()) } : {}),
    demoWorkflows: e.RUNSTREAM_DEMO === 'true' || e.RUNSTREAM_DEMO === '1',
    traces: tracesWanted(e),
  };
  const problem = bindingProblem(config);
  if (problem) throw new ConfigError([problem]);
  return config;
}

/** Without tokens the API must not be reachable from other machines. */
export function bindingProblem(config: Pick<ServerConfig, 'host' | 'role' | 'apiTokens'>): string | null {
  if (config.role === 'worker' || config.apiTokens.length > 0 || isLoopbackHost(config.host)) return null;
  return (
    `HOST ${JSON.stringify(config.host)} is not a loopback address, and RUNSTREAM_API_TOKEN is not set: ` +
    'refusing to serve the API without authentication beyond this machine. Set RUNSTREAM_API_TOKEN, or HOST=127.0.0.1'
  );
}

/** A URL with its password replaced, for logs and error messages. */
export function redact(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return value.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}
