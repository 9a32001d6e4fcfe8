import { InvalidCursorError } from '@runstream/domain';
import { describe, expect, it } from 'vitest';
import { decodeFeedCursor, encodeFeedCursor, feedStart, positionBeforeTransaction } from './feed-cursor.js';

describe('feed cursor', () => {
  it('encodes the start of the feed as 0:0', () => {
    expect(encodeFeedCursor(feedStart)).toBe('0:0');
    expect(decodeFeedCursor('0:0')).toEqual({ transactionId: 0n, position: 0n });
  });

  it('round-trips positions, including ones beyond Number.MAX_SAFE_INTEGER', () => {
    const positions = [
      { transactionId: 1n, position: 1n },
      { transactionId: 7_341n, position: 982_113n },
      { transactionId: 18_446_744_073_709_551_615n, position: 9_223_372_036_854_775_807n },
    ];
    for (const position of positions) expect(decodeFeedCursor(encodeFeedCursor(position))).toEqual(position);
    expect(encodeFeedCursor({ transactionId: 9_007_199_254_740_993n, position: 5n })).toBe('9007199254740993:5');
  });

  it('places the position before a transaction after every older transaction and before its first event', () => {
    const before = encodeFeedCursor(positionBeforeTransaction(42n));
    expect(before).toBe('42:0');
    const decoded = decodeFeedCursor(before);
    expect(decoded.transactionId).toBe(42n);
    expect(decoded.position).toBeLessThan(1n);
  });

  it.each([
    '',
    '0',
    ':',
    '1:',
    ':1',
    '1:2:3',
    '-1:2',
    '1:-2',
    '1.5:2',
    'a:b',
    ' 1:2',
    '1:2 ',
    '0x1:2',
    '123456789012345678901:1',
    '1:12345678901234567890',
  ])('rejects %j with InvalidCursorError', (cursor) => {
    let caught: unknown;
    try {
      decodeFeedCursor(cursor);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidCursorError);
    expect(caught).toMatchObject({ cursor, code: 'INVALID_CURSOR', field: 'cursor' });
  });
});

describe('feed cursor bounds', () => {
  it('refuses positions past the columns (xid8, bigint) and accepts their largest values', () => {
    expect(() => decodeFeedCursor('1:9999999999999999999')).toThrow(InvalidCursorError);
    expect(() => decodeFeedCursor('18446744073709551616:1')).toThrow(InvalidCursorError);
    expect(decodeFeedCursor('18446744073709551615:9223372036854775807')).toEqual({
      transactionId: 18446744073709551615n,
      position: 9223372036854775807n,
    });
  });
});
