import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackHost, parseConfig, parseDotEnv, readEnvironment, repoRoot } from './config.js';

function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(env, '/srv');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('has working defaults: embedded PostgreSQL, loopback, role all, auth off', () => {
    expect(parseConfig({}, '/srv')).toEqual({
      port: 7420,
      host: '127.0.0.1',
      role: 'all',
      namespace: 'runstream',
      apiTokens: [],
      allowedOrigins: [],
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxConnections: 2_000,
      workerConcurrency: 8,
      leaseMs: 30_000,
      databasePoolSize: 10,
      startupTimeoutMs: 10_000,
      dataDir: join(repoRoot, '.runstream'),
      embeddedPgPort: 54329,
      logLevel: 'info',
      demoWorkflows: false,
      traces: false,
    });
  });

  it('reads every variable', () => {
    const config = parseConfig(
      {
        DATABASE_URL: 'postgres://u:p@db:5432/rs',
        REDIS_URL: 'redis://cache:6379/2',
        PORT: '8080',
        HOST: '0.0.0.0',
        RUNSTREAM_ROLE: 'Worker',
        RUNSTREAM_NAMESPACE: 'prod-eu',
        RUNSTREAM_API_TOKEN: ' aaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbb ,',
        RUNSTREAM_ALLOWED_ORIGINS: 'https://Runstream.example.com:443, http://localhost:5173',
        RUNSTREAM_HEADERS_TIMEOUT_MS: '5000',
        RUNSTREAM_REQUEST_TIMEOUT_MS: '20000',
        RUNSTREAM_MAX_CONNECTIONS: '500',
        RUNSTREAM_READ_TOKEN_SECRET: 's'.repeat(32),
        WORKER_CONCURRENCY: '32',
        RUNSTREAM_LEASE_MS: '5000',
        DATABASE_POOL_SIZE: '4',
        RUNSTREAM_STARTUP_TIMEOUT_MS: '2500',
        RUNSTREAM_DATA_DIR: 'data',
        EMBEDDED_PG_PORT: '55000',
        LOG_LEVEL: 'debug',
        RUNSTREAM_WORKFLOWS: 'src/workflows.ts',
        RUNSTREAM_DEMO: '1',
        OTEL_TRACES_EXPORTER: 'otlp',
      },
      '/srv',
    );
    expect(config).toEqual({
      databaseUrl: 'postgres://u:p@db:5432/rs',
      redisUrl: 'redis://cache:6379/2',
      port: 8080,
      host: '0.0.0.0',
      role: 'worker',
      namespace: 'prod-eu',
      apiTokens: ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'],
      allowedOrigins: ['https://runstream.example.com', 'http://localhost:5173'],
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 20_000,
      maxConnections: 500,
      readTokenSecret: 's'.repeat(32),
      workerConcurrency: 32,
      leaseMs: 5_000,
      databasePoolSize: 4,
      startupTimeoutMs: 2_500,
      dataDir: '/srv/data',
      embeddedPgPort: 55000,
      logLevel: 'debug',
      workflowsModule: '/srv/src/workflows.ts',
      demoWorkflows: true,
      traces: true,
    });
  });

  it('treats blank values as unset', () => {
    expect(parseConfig({ PORT: '', DATABASE_URL: ' ', RUNSTREAM_ROLE: '' }, '/srv')).toMatchObject({ port: 7420, role: 'all' });
  });

  it('names the variable and the bad value', () => {
    expect(problems({ PORT: 'abc' })).toEqual(['PORT must be an integer between 1 and 65535, got "abc"']);
    expect(problems({ PORT: '70000' })).toEqual(['PORT must be an integer between 1 and 65535, got "70000"']);
    expect(problems({ PORT: '80.5' })).toEqual(['PORT must be an integer between 1 and 65535, got "80.5"']);
    expect(problems({ RUNSTREAM_STARTUP_TIMEOUT_MS: '0' })).toEqual([
      'RUNSTREAM_STARTUP_TIMEOUT_MS must be an integer between 100 and 3600000, got "0"',
    ]);
    expect(problems({ RUNSTREAM_ROLE: 'scheduler' })).toEqual(['RUNSTREAM_ROLE must be one of api, worker, all, got "scheduler"']);
    expect(problems({ WORKER_CONCURRENCY: '0' })).toEqual(['WORKER_CONCURRENCY must be an integer between 1 and 1000, got "0"']);
    expect(problems({ RUNSTREAM_LEASE_MS: '500' })).toEqual(['RUNSTREAM_LEASE_MS must be an integer between 1000 and 3600000, got "500"']);
    expect(problems({ DATABASE_POOL_SIZE: '-1' })).toEqual(['DATABASE_POOL_SIZE must be an integer between 1 and 1000, got "-1"']);
    expect(problems({ LOG_LEVEL: 'loud' })[0]).toMatch(/^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
    expect(problems({ DATABASE_URL: 'mysql://x:secret@db/rs' })).toEqual([
      'DATABASE_URL must start with postgres:// or postgresql://, got "mysql://x:***@db/rs"',
    ]);
    expect(problems({ REDIS_URL: 'not a url' })[0]).toMatch(/^REDIS_URL must be a URL/);
    expect(problems({ RUNSTREAM_NAMESPACE: 'has space' })[0]).toMatch(/^RUNSTREAM_NAMESPACE must be 1-48 letters/);
    expect(problems({ RUNSTREAM_API_TOKEN: 'short' })[0]).toMatch(/^RUNSTREAM_API_TOKEN must be .* at least 16 characters/);
    expect(problems({ RUNSTREAM_ALLOWED_ORIGINS: 'https://ok.example, ok.example, https://x.example/path' })).toEqual([
      'RUNSTREAM_ALLOWED_ORIGINS must be a comma-separated list of origins (http[s]://host[:port], nothing after it), got "ok.example", "https://x.example/path"',
    ]);
    expect(problems({ RUNSTREAM_REQUEST_TIMEOUT_MS: '50' })).toEqual(['RUNSTREAM_REQUEST_TIMEOUT_MS must be an integer between 100 and 3600000, got "50"']);
    expect(problems({ RUNSTREAM_MAX_CONNECTIONS: '0' })).toEqual(['RUNSTREAM_MAX_CONNECTIONS must be an integer between 1 and 1000000, got "0"']);
    expect(problems({ RUNSTREAM_READ_TOKEN_SECRET: 'tiny' })[0]).toMatch(/^RUNSTREAM_READ_TOKEN_SECRET must be at least 32 characters, got 4/);
  });

  it('registers the OpenTelemetry SDK only when OTEL_* ask for traces', () => {
    const traces = (env: Record<string, string>) => parseConfig(env, '/srv').traces;
    expect(traces({})).toBe(false);
    expect(traces({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(traces({ OTEL_TRACES_EXPORTER: 'Console, zipkin' })).toBe(true);
    expect(traces({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(traces({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces' })).toBe(true);
    expect(traces({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(traces({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'TRUE' })).toBe(false);
    expect(traces({ OTEL_SERVICE_NAME: 'orders' })).toBe(false);
    expect(problems({ OTEL_TRACES_EXPORTER: 'otlp,jaeger' })).toEqual([
      'OTEL_TRACES_EXPORTER must list otlp, zipkin, console, none, got "otlp,jaeger"',
    ]);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })[0]).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT must start with http:\/\/ or https:\/\//);
  });

  it('reports every bad variable at once', () => {
    expect(problems({ PORT: 'x', RUNSTREAM_ROLE: 'y' })).toHaveLength(2);
  });

  it('refuses a non-loopback HOST without API tokens', () => {
    const [problem] = problems({ HOST: '0.0.0.0' });
    expect(problem).toMatch(/^HOST "0.0.0.0" is not a loopback address, and RUNSTREAM_API_TOKEN is not set/);
    expect(problems({ HOST: '192.168.1.10', RUNSTREAM_ROLE: 'api' })[0]).toMatch(/^HOST "192.168.1.10"/);
    expect(problems({ HOST: '::' })[0]).toMatch(/^HOST "::"/);
  });

  it('allows any HOST with tokens, loopback hosts without, and a worker (no API) anywhere', () => {
    expect(parseConfig({ HOST: '0.0.0.0', RUNSTREAM_API_TOKEN: 'x'.repeat(16) }).host).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(parseConfig({ HOST: host }).host).toBe(host);
    expect(parseConfig({ HOST: '0.0.0.0', RUNSTREAM_ROLE: 'worker' }).role).toBe('worker');
  });
});

describe('isLoopbackHost', () => {
  it('knows loopback from the rest', () => {
    expect(['127.0.0.1', 'localhost', '::1', 'api.localhost', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1'].some(isLoopbackHost)).toBe(false);
  });
});

describe('.env', () => {
  it('parses comments, export, quotes and inline comments', () => {
    expect(
      parseDotEnv(
        ['# comment', 'export PORT=8080', 'HOST = "127.0.0.1"', "TOKEN='a#b'", 'LOG_LEVEL=debug # noisy', 'MULTI="a\\nb"', 'junk'].join('\n'),
      ),
    ).toEqual({ PORT: '8080', HOST: '127.0.0.1', TOKEN: 'a#b', LOG_LEVEL: 'debug', MULTI: 'a\nb' });
  });

  it('is read from the working directory, and the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'PORT=8081\nRUNSTREAM_ROLE=api\n');
      const { env, envFile } = readEnvironment(dir, { PORT: '9000' });
      expect(envFile).toBe(join(dir, '.env'));
      expect(parseConfig(env)).toMatchObject({ port: 9000, role: 'api' });
      expect(readEnvironment(tmpdir(), {}).envFile).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
