import { describe, expect, it } from 'vitest';
import { exampleInput, parseJson, validateInput } from '../web/validate.js';

// What zod's toJSONSchema emits for demo.countdown's input (io: 'input').
const countdown = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    count: { type: 'integer', minimum: 0, maximum: 10000 },
    intervalMs: { default: 1000, type: 'integer', minimum: 0, maximum: 60000 },
  },
  required: ['count'],
};

describe('input validation', () => {
  it('accepts valid input and the generated example', () => {
    expect(validateInput(countdown, { count: 3 })).toEqual([]);
    expect(exampleInput(countdown)).toEqual({ count: 3, intervalMs: 1000 });
    expect(validateInput(countdown, exampleInput(countdown))).toEqual([]);
  });

  it('names each wrong field, without the "a child failed" summaries', () => {
    expect(validateInput(countdown, { count: 'ten', intervalMs: -1 })).toEqual([
      { path: 'count', message: 'must be integer (got string)' },
      { path: 'intervalMs', message: 'must be at least 0 (got -1)' },
    ]);
    expect(validateInput(countdown, {})).toEqual([{ path: '', message: 'property "count" is required' }]);
    expect(validateInput(countdown, [])).toEqual([{ path: '', message: 'must be object (got array)' }]);
  });

  it('reports JSON syntax errors separately', () => {
    expect(parseJson('{"count": ')).toMatchObject({ ok: false });
    expect(parseJson('')).toEqual({ ok: true, value: undefined });
    expect(validateInput(countdown, undefined)).toEqual([{ path: '', message: 'enter the input as JSON' }]);
  });
});
