import { createApiServer } from '@runstream/api';
import type * as demos from '@runstream/demo-workflows';
import { demoWorkflows } from '@runstream/demo-workflows';
import { createTestEngine, type TestEngine } from '@runstream/engine/testing';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createClient, type ClientRunHandle, type TypedClient } from './typed-client.js';
import type { RunEvent } from './types.js';
import { RunCancelledError } from './index.js';

const token = 'typed-client-test-token';

describe('createClient<typeof workflows>', () => {
  let t: TestEngine;
  let server: Server;
  let client: TypedClient<typeof demoWorkflows>;

  beforeAll(async () => {
    t = await createTestEngine({ backend: 'postgres', workflows: demoWorkflows });
    const api = createApiServer({ runtime: t.runtime, engine: t.engine, queue: t.queue, auth: { tokens: [token], readTokenSecret: 'typed-client-read-token-secret' } });
    server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = createClient<typeof demoWorkflows>({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token });
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  it('types names, inputs, outputs and the run handle from the workflows (checked by tsc)', () => {
    type Start = TypedClient<typeof demoWorkflows>['start'];
    expectTypeOf<Parameters<Start>[0]>().toEqualTypeOf<'demo.countdown' | 'demo.tokens' | 'demo.flaky' | 'demo.sleep' | 'demo.approval'>();
    expectTypeOf(client.start<'demo.sleep'>).parameter(1).toEqualTypeOf<{ ms: number }>();
    expectTypeOf(client.start<'demo.tokens'>).returns.resolves.toEqualTypeOf<ClientRunHandle<{ text: string; words: number }>>();
    // A record of workflows (`import * as workflows`) types the client the same way.
    expectTypeOf<Parameters<TypedClient<typeof demos>['start']>[0]>().toEqualTypeOf<
      'demo.countdown' | 'demo.tokens' | 'demo.flaky' | 'demo.sleep' | 'demo.approval'
    >();
    const compileOnly = (typed: TypedClient<typeof demoWorkflows>) => {
      // @ts-expect-error not a workflow of this app
      void typed.start('demo.nope', {});
      // @ts-expect-error ms must be a number
      void typed.start('demo.sleep', { ms: '5' });
      // @ts-expect-error input is required
      void typed.start('demo.sleep');
    };
    expect(compileOnly).toBeTypeOf('function');
  });

  it('starts a run, follows its gap-free events as an async iterable, and returns the typed output', async () => {
    const run = await client.start('demo.tokens', { text: 'a b c', intervalMs: 0 }, { idempotencyKey: 'typed-1' });
    expect(run.workflow).toBe('demo.tokens');
    const seen: RunEvent[] = [];
    for await (const event of run.follow()) seen.push(event);
    expect(seen.map((event) => event.seq)).toEqual(seen.map((_, index) => index + 1));
    expect(seen.at(-1)!.type).toBe('run.succeeded');
    const output = await run.result();
    expect(output).toEqual({ text: 'a b c', words: 3 });

    // Resumes from a seq, and leaving a loop early ends the follow.
    for await (const event of run.follow({ fromSeq: 3 })) {
      expect(event.seq).toBe(3);
      break;
    }
    expect((await client.start('demo.tokens', { text: 'a b c', intervalMs: 0 }, { idempotencyKey: 'typed-1' })).id).toBe(run.id);
  });

  it('throws RunCancelledError from result() when the run was cancelled', async () => {
    const run = await client.start('demo.sleep', { ms: 3_600_000 });
    // The expectation holds the promise from the start: result() may reject while cancel() is still answering.
    const ended = expect(run.result()).rejects.toBeInstanceOf(RunCancelledError);
    await run.cancel();
    await ended;
    expect((await run.get()).status).toBe('cancelled');
  });
});
