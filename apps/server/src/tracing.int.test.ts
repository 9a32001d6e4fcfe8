import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitOf, freePort, poll, startServerProcess, type ServerProcess } from './testing/server-process.js';

// The server registers the OpenTelemetry Node SDK from the standard OTEL_* variables: here the console exporter,
// which prints each finished span on stdout, so the spans of a run created with a traceparent can be read there.

let database: TestDatabase;
let server: ServerProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  server?.signal('SIGKILL');
  await server?.exited;
  await database?.drop();
});

describe('server with OTEL_TRACES_EXPORTER=console', () => {
  it("exports the run's spans in the trace of the request that created it", async () => {
    const node = await startServerProcess({
      DATABASE_URL: database.url,
      RUNSTREAM_NAMESPACE: database.name,
      PORT: String(await freePort()),
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_SERVICE_NAME: 'runstream-test',
    });
    server = node.server;
    expect(node.server.logs.some((line) => line.msg === 'OpenTelemetry tracing on (OTEL_* variables)')).toBe(true);

    const traceId = randomBytes(16).toString('hex');
    const response = await fetch(`${node.url}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      body: JSON.stringify({ workflow: 'demo.countdown', input: { count: 2, intervalMs: 0 } }),
    });
    expect(response.status).toBe(201);
    const { run } = (await response.json()) as { run: { id: string } };
    await poll(async () => {
      const current = (await (await fetch(`${node.url}/api/runs/${run.id}`)).json()) as { status: string };
      return current.status === 'succeeded' ? current : undefined;
    }, 'the run to succeed');

    node.server.signal('SIGTERM');
    expect(await exitOf(node.server)).toEqual({ code: 0, signal: null });
    // The console exporter prints each span as an object: its trace id, then (further down) its name.
    const spans = node.server.raw().split(/\n(?=\{\n)/).filter((text) => text.includes(`traceId: '${traceId}'`));
    expect(spans.filter((text) => text.includes("name: 'runstream.run'"))).toHaveLength(1);
    expect(spans.filter((text) => text.includes("name: 'runstream.step'"))).toHaveLength(2);
    expect(spans.every((text) => text.includes(`'runstream.run.id': '${run.id}'`))).toBe(true);
    expect(spans.every((text) => text.includes("'service.name': 'runstream-test'"))).toBe(true);
  });
});
