import { describe, expect, it } from 'vitest';
import { exitCodes, runCli } from './cli.js';

function run(fetch: typeof globalThis.fetch) {
  const err: string[] = [];
  const result = runCli(['runs'], { env: {}, out: () => {}, err: (line) => err.push(line), color: false, signal: new AbortController().signal, fetch });
  return { result, err };
}

const rpcError = (status: number, body: Record<string, unknown>) =>
  new Response(JSON.stringify({ json: { defined: false, status, ...body } }), { status, headers: { 'content-type': 'application/json' } });

describe('runCli exit codes', () => {
  it('exits 75 (try again) when the server answers 503', async () => {
    const { result, err } = run(async () => rpcError(503, { code: 'DEPENDENCY_UNAVAILABLE', message: 'unreachable', data: { retryAfterSeconds: 1 } }));
    expect(await result).toBe(exitCodes.unavailable);
    expect(err.join('\n')).toMatch(/DEPENDENCY_UNAVAILABLE[\s\S]*try again/);
  });

  it('exits 3 for other API errors', async () => {
    const { result } = run(async () => rpcError(500, { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' }));
    expect(await result).toBe(exitCodes.api);
  });
});
