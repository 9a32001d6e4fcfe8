import { insertInstance, leaseOf } from '@runstream/store/testing';
import { testBackends, waitForStatus, waitUntil } from '@runstream/testkit';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEngine, joinTestEngine, type PeerEngine, type TestEngine } from './testing/index.js';
import { outline, startedBy } from './testing/facts.js';
import { oneStepWorkflow } from './testing/one-step-workflow.js';

const oneStep = oneStepWorkflow('test.instances');

describe.each(testBackends)('instance registry on %s', (backend) => {
  let t: TestEngine;
  const peers: PeerEngine[] = [];
  beforeAll(async () => {
    t = await createTestEngine({ backend, worker: false, workflows: [oneStep] });
  });
  afterAll(async () => {
    for (const peer of peers) await peer.close();
    await t?.close();
  });

  const instance = async (id: string) => (await t.engine.instances()).find((row) => row.id === id);

  it('lists a running instance with its host, pid, concurrency and heartbeat, and marks it stopped after close', async () => {
    const id = `listed-${backend}`;
    const joinedFrom = Date.now();
    const peer = await joinTestEngine(t, { workflows: [oneStep], instanceId: id, concurrency: 3, sweepIntervalMs: 200 });
    peers.push(peer);

    const registered = await instance(id);
    const listedBy = Date.now();
    expect(registered).toMatchObject({ id, host: hostname(), pid: process.pid, concurrency: 3, load: 0, status: 'alive' });
    expect(registered!.stoppedAt).toBeNull();
    expect(registered!.heartbeatAt.getTime()).toBeGreaterThanOrEqual(registered!.startedAt.getTime());
    // Timestamps of this registration (the runtime's clock), not stale or made-up ones.
    expect(registered!.startedAt.getTime()).toBeGreaterThanOrEqual(joinedFrom);
    expect(registered!.heartbeatAt.getTime()).toBeLessThanOrEqual(listedBy);

    // Housekeeping heartbeats on every sweep interval.
    const beaten = await waitUntil(
      t.runtime,
      async () => {
        const row = await instance(id);
        return row && row.heartbeatAt > registered!.heartbeatAt ? row : undefined;
      },
      `instance ${id} to heartbeat`,
      { recheckMs: 250 },
    );
    expect(beaten).toMatchObject({ status: 'alive', startedAt: registered!.startedAt });

    await peer.close();
    const stopped = await instance(id);
    expect(stopped).toMatchObject({ status: 'stopped', load: 0 });
    expect(stopped!.stoppedAt).toBeInstanceOf(Date);
  });

  it('declares an instance with a stale heartbeat dead and recovers the run it held', async () => {
    const ghost = `ghost-${backend}`;
    const live = `live-${backend}`;
    // A run the ghost took and crashed in: leased for 10 minutes, so only the reaper can free it in time.
    const { run } = await t.engine.startRun({ workflow: oneStep.name, input: {} });
    const leases = t.runtime.store.leases;
    const lease = await leases.acquire(run.id, ghost, { leaseMs: 600_000 });
    if (lease.kind !== 'acquired') throw new Error(`expected the lease, got ${lease.kind}`);
    const fence = { token: lease.token };
    await t.runtime.eventLog.append(run.id, [{ type: 'run.started', data: { attempt: 1, workerId: ghost } }], { fence });
    await t.runtime.eventLog.append(run.id, [{ type: 'step.started', data: { step: 'only', attempt: 1 } }], { fence });
    const silentSince = new Date(Date.now() - 3_600_000);
    await insertInstance(t.runtime.store, {
      id: ghost,
      host: 'ghost-host',
      pid: 1,
      concurrency: 8,
      load: 1,
      status: 'alive',
      startedAt: silentSince,
      heartbeatAt: silentSince,
    });

    // A live instance joins; its housekeeping reaps the ghost, which frees the lease for its sweeper.
    const peer = await joinTestEngine(t, {
      workflows: [oneStep],
      instanceId: live,
      sweepIntervalMs: 200,
      instanceStaleMs: 5_000,
    });
    peers.push(peer);
    const done = await waitForStatus(t.runtime, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ attempt: 2 });

    expect(await instance(ghost)).toMatchObject({ status: 'dead', host: 'ghost-host' });
    expect(await instance(live)).toMatchObject({ status: 'alive' });
    const events = await t.runtime.eventLog.read(run.id);
    expect(startedBy(events)).toEqual([ghost, live]);
    expect(outline(events)).toEqual([
      'run.created',
      'run.started',
      'step.started:only#1',
      'run.started',
      'step.started:only#2',
      'step.completed:only#2',
      'run.succeeded',
    ]);
    expect((await leaseOf(t.runtime.store, run.id)).token).toBe(lease.token + 1);
  });
});
