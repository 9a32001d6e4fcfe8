import { InvalidCursorError } from '@runstream/domain';

/**
 * A position in the cross-run feed: the writing transaction's id, then the global insertion position.
 * Encoded as `<transactionId>:<position>`; the start of the feed is `0:0`.
 */
export interface FeedPosition {
  transactionId: bigint;
  position: bigint;
}

export const feedStart: FeedPosition = { transactionId: 0n, position: 0n };

/**
 * The position right before transaction `transactionId`'s events: after every older transaction's, before its
 * own (positions start at 1). A reader starting here sees everything that transaction and later ones write.
 */
export function positionBeforeTransaction(transactionId: bigint): FeedPosition {
  return { transactionId, position: 0n };
}

export function encodeFeedCursor({ transactionId, position }: FeedPosition): string {
  return `${transactionId}:${position}`;
}

/** A transaction id is an `xid8` (unsigned 64 bits), a position a `bigint` (signed 64 bits). */
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;

export function decodeFeedCursor(cursor: string): FeedPosition {
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(cursor);
  if (!match) throw new InvalidCursorError(cursor);
  const position = { transactionId: BigInt(match[1]!), position: BigInt(match[2]!) };
  if (position.transactionId > MAX_XID8 || position.position > MAX_BIGINT) throw new InvalidCursorError(cursor);
  return position;
}
