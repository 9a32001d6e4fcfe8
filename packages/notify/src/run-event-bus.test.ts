import { describe, expect, it } from 'vitest';
import { RunEventBus, type BusSignal } from './run-event-bus.js';

const runA = '0190c2a4-0000-7000-8000-00000000000a';
const runB = '0190c2a4-0000-7000-8000-00000000000b';

function recorder() {
  const heard: BusSignal[] = [];
  return { heard, listener: (signal: BusSignal) => void heard.push(signal) };
}

describe('RunEventBus', () => {
  it('delivers a run’s signals only to that run’s subscribers', () => {
    const bus = new RunEventBus();
    const a = recorder();
    const b = recorder();
    bus.subscribe(runA, a.listener);
    bus.subscribe(runB, b.listener);
    bus.publish({ runId: runA, lastSeq: 3 });
    bus.publish({ runId: runA, lastSeq: 4 });
    expect(a.heard).toEqual([
      { kind: 'appended', runId: runA, lastSeq: 3 },
      { kind: 'appended', runId: runA, lastSeq: 4 },
    ]);
    expect(b.heard).toEqual([]);
  });

  it('delivers every run’s signals to all-runs subscribers', () => {
    const bus = new RunEventBus();
    const all = recorder();
    bus.subscribeAll(all.listener);
    bus.publish({ runId: runA, lastSeq: 1 });
    bus.publish({ runId: runB, lastSeq: 2 });
    expect(all.heard).toEqual([
      { kind: 'appended', runId: runA, lastSeq: 1 },
      { kind: 'appended', runId: runB, lastSeq: 2 },
    ]);
  });

  it('delivers to several subscribers of the same run', () => {
    const bus = new RunEventBus();
    const first = recorder();
    const second = recorder();
    bus.subscribe(runA, first.listener);
    bus.subscribe(runA, second.listener);
    bus.publish({ runId: runA, lastSeq: 9 });
    expect(first.heard).toEqual([{ kind: 'appended', runId: runA, lastSeq: 9 }]);
    expect(second.heard).toEqual([{ kind: 'appended', runId: runA, lastSeq: 9 }]);
  });

  it('stops delivering after unsubscribe; unsubscribing twice is harmless', () => {
    const bus = new RunEventBus();
    const gone = recorder();
    const stays = recorder();
    const unsubscribe = bus.subscribe(runA, gone.listener);
    bus.subscribe(runA, stays.listener);
    const unsubscribeAll = bus.subscribeAll(gone.listener);
    bus.publish({ runId: runA, lastSeq: 1 });
    unsubscribe();
    unsubscribeAll();
    unsubscribe();
    unsubscribeAll();
    bus.publish({ runId: runA, lastSeq: 2 });
    expect(gone.heard.map((s) => s.kind === 'appended' && s.lastSeq)).toEqual([1, 1]);
    expect(stays.heard.map((s) => s.kind === 'appended' && s.lastSeq)).toEqual([1, 2]);
    expect(bus.listenerCount()).toBe(1);
  });

  it('a stale unsubscribe does not remove a later subscription of the same run', () => {
    const bus = new RunEventBus();
    const old = recorder();
    const fresh = recorder();
    const unsubscribeOld = bus.subscribe(runA, old.listener);
    unsubscribeOld();
    bus.subscribe(runA, fresh.listener);
    unsubscribeOld();
    bus.publish({ runId: runA, lastSeq: 5 });
    expect(fresh.heard).toEqual([{ kind: 'appended', runId: runA, lastSeq: 5 }]);
    expect(old.heard).toEqual([]);
    expect(bus.listenerCount()).toBe(1);
  });

  it('listenerCount counts every subscription and returns to 0', () => {
    const bus = new RunEventBus();
    expect(bus.listenerCount()).toBe(0);
    const unsubscribes = [
      bus.subscribe(runA, () => {}),
      bus.subscribe(runA, () => {}),
      bus.subscribe(runB, () => {}),
      bus.subscribeAll(() => {}),
    ];
    expect(bus.listenerCount()).toBe(4);
    unsubscribes[0]!();
    expect(bus.listenerCount()).toBe(3);
    for (const unsubscribe of unsubscribes) unsubscribe();
    expect(bus.listenerCount()).toBe(0);
  });

  it('a throwing listener does not stop the others and is reported', () => {
    const reported: unknown[] = [];
    const bus = new RunEventBus((error) => reported.push(error));
    const before = recorder();
    const after = recorder();
    const all = recorder();
    const failure = new Error('listener broke');
    bus.subscribe(runA, before.listener);
    bus.subscribe(runA, () => {
      throw failure;
    });
    bus.subscribe(runA, after.listener);
    bus.subscribeAll(() => {
      throw failure;
    });
    bus.subscribeAll(all.listener);
    bus.publish({ runId: runA, lastSeq: 7 });
    const signal = { kind: 'appended', runId: runA, lastSeq: 7 };
    expect(before.heard).toEqual([signal]);
    expect(after.heard).toEqual([signal]);
    expect(all.heard).toEqual([signal]);
    expect(reported).toEqual([failure, failure]);
  });

  it('swallows listener errors when no reporter is given', () => {
    const bus = new RunEventBus();
    const other = recorder();
    bus.subscribe(runA, () => {
      throw new Error('nobody listens');
    });
    bus.subscribe(runA, other.listener);
    expect(() => bus.publish({ runId: runA, lastSeq: 1 })).not.toThrow();
    expect(other.heard).toHaveLength(1);
  });

  it('a listener may unsubscribe itself while being delivered to', () => {
    const bus = new RunEventBus();
    const other = recorder();
    let calls = 0;
    const unsubscribe = bus.subscribe(runA, () => {
      calls += 1;
      unsubscribe();
    });
    bus.subscribe(runA, other.listener);
    bus.publish({ runId: runA, lastSeq: 1 });
    bus.publish({ runId: runA, lastSeq: 2 });
    expect(calls).toBe(1);
    expect(other.heard).toHaveLength(2);
    expect(bus.listenerCount()).toBe(1);
  });

  it('resync reaches every subscriber, per-run and all-runs', () => {
    const reported: unknown[] = [];
    const bus = new RunEventBus((error) => reported.push(error));
    const a = recorder();
    const b = recorder();
    const all = recorder();
    bus.subscribe(runA, a.listener);
    bus.subscribe(runB, b.listener);
    bus.subscribe(runB, () => {
      throw new Error('resync broke');
    });
    bus.subscribeAll(all.listener);
    bus.resync();
    expect(a.heard).toEqual([{ kind: 'resync' }]);
    expect(b.heard).toEqual([{ kind: 'resync' }]);
    expect(all.heard).toEqual([{ kind: 'resync' }]);
    expect(reported).toHaveLength(1);
  });
});
