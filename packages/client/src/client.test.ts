import { describe, expect, it } from 'vitest';
import { createRunstreamClient } from './client.js';

/** A fetch that records each request and answers like the RPC handler would. */
function recordingFetch(body: unknown) {
  const requests: Request[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    requests.push(new Request(input, init));
    return new Response(JSON.stringify({ json: body }), { headers: { 'content-type': 'application/json' } });
  };
  return { fetch: fetch as typeof globalThis.fetch, requests };
}

describe('createRunstreamClient', () => {
  it('calls the RPC transport under /rpc with a bearer token', async () => {
    const { fetch, requests } = recordingFetch([]);
    const client = createRunstreamClient({ url: 'http://runstream.test:7420/', token: 's3cret', fetch });
    await expect(client.workflows.list()).resolves.toEqual([]);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.url).toBe('http://runstream.test:7420/rpc/workflows/list');
    expect(requests[0]!.headers.get('authorization')).toBe('Bearer s3cret');
  });

  it('sends no Authorization header without a token', async () => {
    const { fetch, requests } = recordingFetch({ runs: [] });
    const client = createRunstreamClient({ url: 'http://runstream.test', fetch });
    await expect(client.runs.list({ limit: 5 })).resolves.toEqual({ runs: [] });
    expect(requests[0]!.url).toMatch(/^http:\/\/runstream\.test\/rpc\/runs\/list/);
    expect(requests[0]!.headers.has('authorization')).toBe(false);
  });
});
