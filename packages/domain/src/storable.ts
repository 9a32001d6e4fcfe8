import { z } from 'zod';

/**
 * What PostgreSQL (and the process) can take: the bounds every value from outside must meet before it reaches
 * a query. A value past them is the caller's mistake, refused naming its field, never a database error.
 */

/** The largest value of PostgreSQL's `integer` (seqs, attempts). */
export const MAX_INT4 = 2_147_483_647;

/** Deepest nesting accepted in a JSON value (run input): deeper is refused before anything recurses into it. */
export const MAX_JSON_DEPTH = 100;

/** Dates PostgreSQL stores and `Date#toISOString` writes in a form it reads back (four-digit years). */
export const EARLIEST_STORABLE_DATE = new Date('0001-01-01T00:00:00.000Z');
export const LATEST_STORABLE_DATE = new Date('9999-12-31T23:59:59.999Z');

const dateRangeMessage = 'must be a date between 0001-01-01 and 9999-12-31';

/** With the `u` flag a surrogate pair is one code point, so only an unpaired surrogate matches. */
const loneSurrogate = /\p{Surrogate}/u;

/** PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate has no UTF-8 form (it would become U+FFFD). */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (loneSurrogate.test(text)) return 'must not contain an unpaired surrogate';
  return null;
}

export function isStorableDate(date: Date): boolean {
  const time = date.getTime();
  return time >= EARLIEST_STORABLE_DATE.getTime() && time <= LATEST_STORABLE_DATE.getTime();
}

export interface JsonProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * The first reason `value` is not storable JSON: not JSON at all (undefined, a function, NaN, a class instance),
 * nested deeper than MAX_JSON_DEPTH, or text (a string or a key) PostgreSQL cannot hold. Iterative, so any
 * depth is inspected without recursion.
 */
export function jsonProblem(value: unknown): JsonProblem | null {
  const stack: { value: unknown; path: PropertyKey[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (current === null || typeof current === 'boolean') continue;
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) return { path, message: 'must be a finite number' };
      continue;
    }
    if (typeof current === 'string') {
      const problem = textProblem(current);
      if (problem) return { path, message: problem };
      continue;
    }
    if (path.length >= MAX_JSON_DEPTH) return { path: [], message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: [...path, i] });
      continue;
    }
    const prototype: unknown = typeof current === 'object' ? Object.getPrototypeOf(current) : undefined;
    if (prototype === Object.prototype || prototype === null) {
      const entries = Object.entries(current as object);
      for (const [key] of entries) {
        const problem = textProblem(key);
        if (problem) return { path, message: `a key ${problem}` };
      }
      for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], path: [...path, entries[i]![0]] });
      continue;
    }
    return { path, message: 'must be a JSON value' };
  }
  return null;
}

/** A string PostgreSQL can store as given. */
export const storableText = () =>
  z.string().superRefine((text, ctx) => {
    const problem = textProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A JSON value PostgreSQL can store (`jsonb`), checked without recursion. */
export const storableJson = () =>
  z.unknown().superRefine((value, ctx) => {
    const problem = jsonProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
  });

/** A date PostgreSQL can store; text and numbers are coerced (query strings). */
export const storableDate = () => z.coerce.date().min(EARLIEST_STORABLE_DATE, dateRangeMessage).max(LATEST_STORABLE_DATE, dateRangeMessage);

/** A seq: an `integer` from 1 (query strings are coerced). */
export const seqNumber = () => z.coerce.number().int().min(1).max(MAX_INT4);
