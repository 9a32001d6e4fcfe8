import { describe, expect, it } from 'vitest';
import { createRunstreamClient } from './client.js';
import { followRun } from './follow.js';

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

describe('followRun through the real oRPC client', () => {
  it('streams /rpc/runs/stream and resumes with a Last-Event-ID header after the body ends early', async () => {
    const runId = '00000000-0000-4000-8000-000000000001';
    const frame = (seq: number) =>
      `event: message\nid: ${seq}\ndata: ${JSON.stringify({ json: { runId, seq, type: 'run.output', data: {}, createdAt: '1970-01-01T00:00:00.000Z' } })}\n\n`;
    const bodies = [
      `: \n\n${frame(1)}${frame(2)}`, // then the connection ends without `done`
      `${frame(2)}${frame(3)}event: done\ndata: ${JSON.stringify({ json: { status: 'succeeded', lastSeq: 3 } })}\n\n`,
    ];
    const requests: { url: string; lastEventId: string | null; body: unknown }[] = [];
    const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      requests.push({ url: request.url, lastEventId: request.headers.get('last-event-id'), body: await request.json() });
      return new Response(bodies[requests.length - 1], { headers: { 'content-type': 'text/event-stream' } });
    }) as typeof globalThis.fetch;
    const client = createRunstreamClient({ url: 'http://runstream.test', fetch });
    const seqs: number[] = [];
    const end = await followRun(client, runId, { onEvent: (e) => void seqs.push(e.seq), delay: async () => {} });
    expect(end).toEqual({ status: 'succeeded', lastSeq: 3 });
    expect(seqs).toEqual([1, 2, 3]);
    expect(requests).toEqual([
      { url: 'http://runstream.test/rpc/runs/stream', lastEventId: null, body: { json: { id: runId, fromSeq: 1 } } },
      { url: 'http://runstream.test/rpc/runs/stream', lastEventId: '2', body: { json: { id: runId, fromSeq: 3 } } },
    ]);
  });
});
