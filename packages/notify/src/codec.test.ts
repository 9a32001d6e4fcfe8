import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRunAppended,
  decodeRunAppendedBatch,
  encodeRunAppended,
  encodeRunAppendedBatches,
  maxNotificationBytes,
} from './codec.js';

const runId = '0190c2a4-1b2c-7d3e-8f40-123456789abc';

describe('run appended notifications', () => {
  it('encodes ids only', () => {
    expect(encodeRunAppended({ runId, lastSeq: 42 })).toBe(`${runId}:42`);
  });

  it('decodes what it encodes', () => {
    expect(decodeRunAppended(encodeRunAppended({ runId, lastSeq: 1 }))).toEqual({ runId, lastSeq: 1 });
    expect(decodeRunAppended(encodeRunAppended({ runId, lastSeq: 2_147_483_647 }))).toEqual({
      runId,
      lastSeq: 2_147_483_647,
    });
  });

  it('round-trips any uuid and positive seq', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (id, lastSeq) => {
        expect(decodeRunAppended(encodeRunAppended({ runId: id, lastSeq }))).toEqual({ runId: id, lastSeq });
      }),
    );
  });

  it.each([
    '',
    'garbage',
    runId,
    `${runId}:`,
    `:5`,
    `${runId}:0`,
    `${runId}:-3`,
    `${runId}:1.5`,
    `${runId}:abc`,
    `${runId}:NaN`,
    `${runId}:Infinity`,
    `${runId}:99999999999999999999`,
  ])('returns null for %j', (payload) => {
    expect(decodeRunAppended(payload)).toBeNull();
  });
});

describe('batches', () => {
  const id = (n: number) => `0190c2a4-0000-7000-8000-${String(n).padStart(12, '0')}`;

  it('packs many signals into payloads under the NOTIFY limit and unpacks them in order', () => {
    const signals = Array.from({ length: 500 }, (_, i) => ({ runId: id(i), lastSeq: i + 1 }));
    const payloads = encodeRunAppendedBatches(signals);
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) expect(payload.length).toBeLessThanOrEqual(maxNotificationBytes);
    expect(payloads.flatMap(decodeRunAppendedBatch)).toEqual(signals);
  });

  it('makes no payload from no signals, and skips items it does not understand', () => {
    expect(encodeRunAppendedBatches([])).toEqual([]);
    expect(decodeRunAppendedBatch(`${id(1)}:3,garbage,${id(2)}:x,${id(4)}:9`)).toEqual([
      { runId: id(1), lastSeq: 3 },
      { runId: id(4), lastSeq: 9 },
    ]);
  });
});
