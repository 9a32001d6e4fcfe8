import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isStorableDate, jsonProblem, MAX_JSON_DEPTH, storableDate, storableJson, storableText, textProblem } from './storable.js';

describe('storable values', () => {
  it('refuses NUL and unpaired surrogates, keeps surrogate pairs and RTL text', () => {
    expect(textProblem('a\u0000b')).toMatch(/NUL/);
    expect(textProblem('a\ud800')).toMatch(/surrogate/);
    expect(textProblem('\udc00a')).toMatch(/surrogate/);
    expect(textProblem('😀 \u202eعربي')).toBeNull();
  });

  it('names the path of the first bad value in JSON, and refuses depth without recursing', () => {
    expect(jsonProblem({ a: [1, { b: 'x\u0000' }] })).toEqual({ path: ['a', 1, 'b'], message: expect.stringMatching(/NUL/) });
    expect(jsonProblem({ a: { 'k\ud800': 1 } })).toEqual({ path: ['a'], message: expect.stringMatching(/key/) });
    expect(jsonProblem({ a: Number.NaN })?.path).toEqual(['a']);
    expect(jsonProblem({ a: new Date() })?.path).toEqual(['a']);
    expect(jsonProblem(JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)))).toEqual({ path: [], message: expect.stringMatching(/deeper/) });
    const atLimit = JSON.parse('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH));
    expect(jsonProblem(atLimit)).toBeNull();
  });

  it('reports through zod under the field', () => {
    const schema = z.object({ input: storableJson(), key: storableText(), at: storableDate() });
    const result = schema.safeParse({ input: { n: 'a\u0000' }, key: 'k\ud800', at: '+275760-09-13T00:00:00.000Z' });
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([['input', 'n'], ['key'], ['at']]);
  });

  it('bounds dates to what PostgreSQL stores and reads back', () => {
    expect(isStorableDate(new Date('0001-01-01T00:00:00.000Z'))).toBe(true);
    expect(isStorableDate(new Date('9999-12-31T23:59:59.999Z'))).toBe(true);
    expect(isStorableDate(new Date('+010000-01-01T00:00:00.000Z'))).toBe(false);
    expect(isStorableDate(new Date(Number.NaN))).toBe(false);
  });
});
