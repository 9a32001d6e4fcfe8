import { createTestDatabase, testServices, type TestDatabase } from '@runstream/testkit';
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createRunstream,
  defineWorkflow,
  NonRetryableError,
  RunCancelledError,
  RunFailedError,
  UnknownWorkflowError,
  ValidationError,
  z,
  type Runstream,
  type RunEvent,
} from './index.js';

const greet = defineWorkflow({
  name: 'sdk.greet',
  input: z.object({ name: z.string(), times: z.number().int().min(1).default(2) }),
  async run(ctx, input) {
    const parts: string[] = [];
    for (let index = 0; index < input.times; index++) {
      parts.push(await ctx.step(`part-${index}`, async (step) => {
        await step.chunk(`hello ${input.name} #${index}`);
        return `hello ${input.name}`;
      }));
    }
    return { greeting: parts.join(', '), count: parts.length };
  },
});

const broken = defineWorkflow({
  name: 'sdk.broken',
  input: z.object({}),
  async run(ctx) {
    await ctx.step('explode', async () => {
      throw new NonRetryableError('no way');
    });
    return 'unreachable';
  },
});

/** Waits on the run's own events: ends once it is running, so cancel() meets a running run. */
const waitsForCancel = defineWorkflow({
  name: 'sdk.waits',
  input: z.object({}),
  async run(ctx) {
    await ctx.step('wait', (step) => new Promise((_, reject) => step.signal.addEventListener('abort', () => reject(step.signal.reason))));
    return 'cancelled never returns this';
  },
});

const workflows = [greet, broken, waitsForCancel] as const;

let database: TestDatabase;
let rs: Runstream<typeof workflows>;

beforeAll(async () => {
  database = await createTestDatabase();
  rs = await createRunstream({
    workflows,
    databaseUrl: database.url,
    redisUrl: testServices().redisUrl,
    namespace: database.name,
    concurrency: 2,
    poolSize: 3,
    migrate: false,
    env: {},
  });
});

afterAll(async () => {
  await rs?.close();
  await database?.drop();
});

async function collect(events: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const seen: RunEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

function expectGapFree(events: RunEvent[], from = 1) {
  expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + from));
}

describe('createRunstream', () => {
  it('starts a run, follows its gap-free stream to the end, and returns its typed output', async () => {
    const run = await rs.start(greet, { name: 'Ada' }, { idempotencyKey: 'greet-ada' });
    const events = await collect(run.follow());
    expectGapFree(events);
    expect(events[0]!.type).toBe('run.created');
    expect(events.at(-1)!.type).toBe('run.succeeded');
    expect(events.filter((event) => event.type === 'step.chunk')).toHaveLength(2);

    const output = await run.result();
    expectTypeOf(output).toEqualTypeOf<{ greeting: string; count: number }>();
    expect(output).toEqual({ greeting: 'hello Ada, hello Ada', count: 2 });

    const again = await rs.start(greet, { name: 'Ada' }, { idempotencyKey: 'greet-ada' });
    expect(again.id).toBe(run.id);

    // Resuming from a seq gives exactly the rest.
    const rest = await collect(run.follow({ fromSeq: 4 }));
    expectGapFree(rest, 4);
    expect(rest.at(-1)!.seq).toBe(events.at(-1)!.seq);

    expect((await rs.get(run.id))?.status).toBe('succeeded');
    expect((await rs.list({ workflow: 'sdk.greet' })).runs.map((listed) => listed.id)).toContain(run.id);
  });

  it('checks input with the workflow schema (and at compile time), and knows only its workflows', async () => {
    // @ts-expect-error name must be a string
    await expect(rs.start(greet, { name: 42 })).rejects.toBeInstanceOf(ValidationError);
    const stranger = defineWorkflow({ name: 'sdk.stranger', input: z.object({}), run: async () => null });
    // @ts-expect-error not one of this Runstream's workflows
    await expect(rs.start(stranger, {})).rejects.toBeInstanceOf(UnknownWorkflowError);
  });

  it('throws typed errors from result() for failed and cancelled runs', async () => {
    const failed = await rs.start(broken, {});
    const failure = await failed.result().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RunFailedError);
    expect((failure as RunFailedError).error?.message).toBe('no way');

    const waiting = await rs.start(waitsForCancel, {});
    for await (const event of waiting.follow()) {
      if (event.type === 'step.started') break;
    }
    await waiting.cancel();
    await expect(waiting.result()).rejects.toBeInstanceOf(RunCancelledError);
  });

  it('mounts the API under a base path in plain node:http, in Express, and as a fetch handler', async () => {
    const listen = async (server: Server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const plain = createServer(rs.handler({ basePath: '/runstream' }));
    const app = express();
    app.use('/runstream', rs.handler());
    app.post('/greet/:name', async (req, res) => {
      const run = await rs.start(greet, { name: req.params.name, times: 1 });
      res.json({ id: run.id, output: await run.result() });
    });
    const viaExpress = createServer(app);
    const fetchHandler = rs.fetchHandler({ basePath: '/runstream' });
    try {
      for (const base of [await listen(plain), await listen(viaExpress)]) {
        const response = await fetch(`${base}/runstream/api/workflows`);
        expect(response.status).toBe(200);
        const names = ((await response.json()) as { name: string }[]).map((workflow) => workflow.name);
        expect(names.sort()).toEqual(['sdk.broken', 'sdk.greet', 'sdk.waits']);
      }
      const expressBase = `http://127.0.0.1:${(viaExpress.address() as AddressInfo).port}`;
      const started = await fetch(`${expressBase}/greet/Bo`, { method: 'POST' });
      const { id, output } = (await started.json()) as { id: string; output: unknown };
      expect(output).toEqual({ greeting: 'hello Bo', count: 1 });

      const created = await fetchHandler(
        new Request('http://app.example/runstream/api/runs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ workflow: 'sdk.greet', input: { name: 'Cy', times: 1 } }),
        }),
      );
      expect(created.status).toBe(201);
      const stream = await fetchHandler(new Request(`http://app.example/runstream/api/runs/${id}/stream`));
      expect(stream.headers.get('content-type')).toContain('text/event-stream');
      const text = await stream.text();
      const seqs = [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
      expect(seqs).toEqual(seqs.map((_, index) => index + 1));
      expect(text).toContain('event: done');
    } finally {
      plain.closeAllConnections();
      viaExpress.closeAllConnections();
      await new Promise((resolve) => plain.close(resolve));
      await new Promise((resolve) => viaExpress.close(resolve));
    }
  });
});
