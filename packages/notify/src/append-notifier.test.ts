import { decodeRunAppendedBatch } from './codec.js';
import { describe, expect, it } from 'vitest';
import { AppendNotifier } from './append-notifier.js';

const id = (n: number) => `0190c2a4-0000-7000-8000-${String(n).padStart(12, '0')}`;

function recordingNotifier(send?: (payload: string) => Promise<void>) {
  const sent: string[] = [];
  const errors: unknown[] = [];
  const notifier = new AppendNotifier(
    send ??
      (async (payload) => {
        sent.push(payload);
      }),
    (error) => errors.push(error),
  );
  return { notifier, sent, errors };
}

describe('AppendNotifier', () => {
  it('coalesces appends of the same tick into one payload, keeping each run’s highest seq', async () => {
    const { notifier, sent } = recordingNotifier();
    notifier.notify({ runId: id(1), lastSeq: 3 });
    notifier.notify({ runId: id(2), lastSeq: 1 });
    notifier.notify({ runId: id(1), lastSeq: 5 });
    notifier.notify({ runId: id(1), lastSeq: 4 });
    await notifier.close();
    expect(sent).toHaveLength(1);
    expect(decodeRunAppendedBatch(sent[0]!)).toEqual([
      { runId: id(1), lastSeq: 5 },
      { runId: id(2), lastSeq: 1 },
    ]);
  });

  it('sends appends made while a NOTIFY is in flight in the next one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent: string[] = [];
    const { notifier } = recordingNotifier(async (payload) => {
      sent.push(payload);
      if (sent.length === 1) await gate;
    });
    notifier.notify({ runId: id(1), lastSeq: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toHaveLength(1);
    notifier.notify({ runId: id(2), lastSeq: 7 });
    notifier.notify({ runId: id(3), lastSeq: 2 });
    release();
    await notifier.close();
    expect(sent.slice(1).flatMap(decodeRunAppendedBatch)).toEqual([
      { runId: id(2), lastSeq: 7 },
      { runId: id(3), lastSeq: 2 },
    ]);
  });

  it('reports a failed send and keeps going', async () => {
    let calls = 0;
    const { notifier, errors } = recordingNotifier(async () => {
      calls++;
      if (calls === 1) throw new Error('connection reset');
    });
    notifier.notify({ runId: id(1), lastSeq: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    notifier.notify({ runId: id(2), lastSeq: 1 });
    await notifier.close();
    expect(errors).toHaveLength(1);
    expect(calls).toBe(2);
  });

  it('ignores appends after close', async () => {
    const { notifier, sent } = recordingNotifier();
    await notifier.close();
    notifier.notify({ runId: id(1), lastSeq: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([]);
  });
});
