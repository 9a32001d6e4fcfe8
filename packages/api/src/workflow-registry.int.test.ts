import { defineWorkflow } from '@runstream/engine';
import { createTestEngine, gate, joinTestEngine, type Gate, type PeerEngine, type TestEngine } from '@runstream/engine/testing';
import { countRunsAndEvents, insertInstance } from '@runstream/store/testing';
import { testBackends, waitForStatus, waitUntil } from '@runstream/testkit';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serveTestApi, type TestApiServer } from './testing/index.js';

/** Code only the worker nodes have: the API node below is built without any workflow. */
const order = defineWorkflow({
  name: 'registry.order',
  input: z.object({ orderId: z.number().int(), note: z.string().optional() }),
  retries: 2,
  concurrency: 4,
  async run(ctx, { orderId }) {
    return ctx.step('fulfil', async () => ({ fulfilled: orderId }));
  },
});

describe.each(testBackends)('workflow registry on %s: an API node without workflow code', (backend) => {
  /** Held in its step until the test opens `held`: one run per customer at a time, by a key function only workers have. */
  let held: Gate = gate();
  const perCustomer = defineWorkflow({
    name: `registry.per-customer-${backend}`,
    input: z.object({ customer: z.string() }),
    keyConcurrency: { key: (input) => input.customer, limit: 1 },
    async run(ctx, { customer }) {
      return ctx.step('work', async () => {
        await held.enter();
        return customer;
      });
    },
  });

  let t: TestEngine;
  let http: TestApiServer;
  const workers: PeerEngine[] = [];

  beforeAll(async () => {
    t = await createTestEngine({ backend, worker: false, workflows: [] });
    http = await serveTestApi(t);
  });
  afterAll(async () => {
    held.open();
    for (const worker of workers) await worker.close();
    await http?.close();
    await t?.close();
  });

  async function joinWorker(instanceId: string): Promise<PeerEngine> {
    const worker = await joinTestEngine(t, { workflows: [order, perCustomer], instanceId });
    workers.push(worker);
    return worker;
  }

  async function request(method: 'GET' | 'POST', path: string, body?: unknown) {
    const response = await fetch(`${http.base}${path}`, {
      method,
      headers: method === 'GET' ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  const startOrder = (input: unknown) => request('POST', '/api/runs', { workflow: order.name, input });

  const listed = async () => {
    const { status, json } = await request('GET', '/api/workflows');
    expect(status).toBe(200);
    return (json as unknown as { name: string }[]).find((workflow) => workflow.name === order.name);
  };

  it('knows nothing before a worker registers: 404 UNKNOWN_WORKFLOW, nothing written', async () => {
    const before = await countRunsAndEvents(t.runtime.store);
    const { status, json } = await startOrder({ orderId: 1 });
    expect(status).toBe(404);
    expect(json).toMatchObject({ code: 'UNKNOWN_WORKFLOW', data: { workflow: order.name, field: 'workflow' } });
    expect(await listed()).toBeUndefined();
    expect(await countRunsAndEvents(t.runtime.store)).toEqual(before);
  });

  it('accepts and completes a run of a workflow a worker node registered, recording that worker\'s version', async () => {
    const worker = await joinWorker(`registry-${backend}-1`);
    const { status, json } = await startOrder({ orderId: 42 });
    expect(status).toBe(201);
    const run = json.run as { id: string; workflowVersion: string; waitingReason: string | null };
    expect(run).toMatchObject({ workflowVersion: order.version, waitingReason: null });
    const done = await waitForStatus(t.runtime, run.id);
    expect(done).toMatchObject({ status: 'succeeded', output: { fulfilled: 42 }, workflowVersion: order.version });
    const started = (await t.runtime.eventLog.read(run.id)).find((event) => event.type === 'run.started');
    expect(started?.data).toMatchObject({ workerId: worker.engine.instanceId });
  });

  it.each([
    ['a wrong type', { orderId: 'forty-two' }, 'input.orderId'],
    ['a missing field', { note: 'no id' }, 'input.orderId'],
    ['a wrong nested type', { orderId: 7, note: 5 }, 'input.note'],
    ['input that is not an object', 'just text', 'input'],
  ])('refuses %s with a 400 naming the field, writing nothing', async (_case, input, field) => {
    const before = await countRunsAndEvents(t.runtime.store);
    const { status, json } = await startOrder(input);
    expect(status).toBe(400);
    expect(json).toMatchObject({ code: 'BAD_REQUEST', data: { field } });
    expect(await countRunsAndEvents(t.runtime.store)).toEqual(before);
  });

  it('lists the workflow with its version, options and live workers', async () => {
    const workflow = await listed();
    expect(workflow).toMatchObject({
      name: order.name,
      version: order.version,
      local: false,
      concurrency: 4,
      keyConcurrency: null,
      inputSchema: { type: 'object', required: ['orderId'] },
      workers: [{ id: `registry-${backend}-1`, host: hostname() }],
      versions: [{ version: order.version, workers: [{ id: `registry-${backend}-1`, host: hostname() }] }],
    });
    const [version] = (workflow as unknown as { versions: { firstSeenAt: string; lastSeenAt: string }[] }).versions;
    expect(Date.parse(version!.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(version!.firstSeenAt));
  });

  it('accepts a run while no worker is alive, says it waits for one, and completes it when a worker joins', async () => {
    await workers[0]!.close();
    expect(await listed()).toMatchObject({ workers: [], versions: [{ version: order.version, workers: [] }] });

    const { status, json } = await startOrder({ orderId: 99 });
    expect(status).toBe(201);
    const run = json.run as { id: string; status: string; waitingReason: string | null };
    expect(run).toMatchObject({ status: 'queued', waitingReason: `no live worker serves ${order.name}` });
    expect((await request('GET', `/api/runs/${run.id}`)).json).toMatchObject({
      status: 'queued',
      waitingReason: `no live worker serves ${order.name}`,
    });

    const second = await joinWorker(`registry-${backend}-2`);
    const done = await waitForStatus(t.runtime, run.id);
    expect(done).toMatchObject({ status: 'succeeded', output: { fulfilled: 99 }, waitingReason: null });
    const started = (await t.runtime.eventLog.read(run.id)).find((event) => event.type === 'run.started');
    expect(started?.data).toMatchObject({ workerId: second.engine.instanceId });
    expect(await listed()).toMatchObject({ workers: [{ id: `registry-${backend}-2` }] });
  });

  it('keeps a keyed workflow\'s limit for runs the API node created without the key function: the worker takes the key at lease', async () => {
    held = gate();
    const start = async (customer: string) =>
      (await request('POST', '/api/runs', { workflow: perCustomer.name, input: { customer } })).json.run as {
        id: string;
        concurrencyKey: string | null;
      };
    const first = await start('acme');
    // The API node has no key function: the run is created without its key.
    expect(first.concurrencyKey).toBeNull();
    await held.entered;
    const second = await start('acme');
    const waiting = await waitUntil(
      t.runtime,
      async () => {
        const run = await t.runtime.runs.get(second.id);
        return run?.waitingReason?.startsWith('throttled: key acme') ? run : undefined;
      },
      'the second acme run to be throttled by its key',
      { recheckMs: 100 },
    );
    expect(waiting.status).toBe('queued');
    expect((await t.runtime.runs.get(first.id))?.concurrencyKey).toBe('acme');
    held.open();
    for (const run of [first, second]) {
      expect(await waitForStatus(t.runtime, run.id)).toMatchObject({ status: 'succeeded', output: 'acme', concurrencyKey: 'acme', waitingReason: null });
    }
  });

  it('does not count a worker that went silent without saying goodbye (no peer left to declare it dead)', async () => {
    // Only the ghost would serve this workflow: no live worker may take (and drop) its job meanwhile.
    for (const worker of workers) await worker.close();
    const ghost = `registry-ghost-${backend}`;
    const silentSince = new Date(Date.now() - 3_600_000);
    await insertInstance(t.runtime.store, {
      id: ghost,
      host: 'ghost-host',
      pid: 1,
      concurrency: 8,
      load: 0,
      status: 'alive',
      startedAt: silentSince,
      heartbeatAt: silentSince,
    });
    const workflow = `registry.ghosted-${backend}`;
    await t.runtime.store.workflowVersions.register(ghost, [
      {
        workflow,
        version: 'v1',
        inputSchema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
        options: { retries: null, concurrency: null, keyConcurrency: null },
      },
    ]);
    const { status, json } = await request('POST', '/api/runs', { workflow, input: { n: 1 } });
    expect(status).toBe(201);
    expect(json.run).toMatchObject({ workflowVersion: 'v1', waitingReason: `no live worker serves ${workflow}` });
    const listing = ((await request('GET', '/api/workflows')).json as unknown as { name: string }[]).find((entry) => entry.name === workflow);
    expect(listing).toMatchObject({ local: false, workers: [], versions: [{ version: 'v1', workers: [] }] });
  });
});
