import { ValidationError } from '@runstream/domain';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WorkflowRegistry } from './registry.js';
import { defineWorkflow } from './workflow.js';

const keyed = (key: (input: { customerId?: unknown }) => unknown) =>
  defineWorkflow({
    name: 'test.keyed',
    input: z.object({ customerId: z.unknown() }),
    keyConcurrency: { key: key as (input: unknown) => string, limit: 2 },
    run: async () => null,
  });

describe('concurrency keys', () => {
  it('takes the key from the parsed input; none when the workflow or the input has none', () => {
    const registry = new WorkflowRegistry([keyed((input) => input.customerId)]);
    expect(registry.concurrencyKey('test.keyed', { customerId: 'acme' })).toBe('acme');
    expect(registry.concurrencyKey('test.keyed', { customerId: undefined })).toBeUndefined();
    expect(registry.list()[0]).toMatchObject({ concurrency: null, keyConcurrency: 2 });
    const plain = defineWorkflow({ name: 'test.plain', input: z.object({}), run: async () => null });
    expect(new WorkflowRegistry([plain]).concurrencyKey('test.plain', {})).toBeUndefined();
  });

  it.each([42, '', 'x'.repeat(201)])('refuses the key %j naming the input', (key) => {
    const registry = new WorkflowRegistry([keyed(() => key)]);
    let thrown: unknown;
    try {
      registry.concurrencyKey('test.keyed', {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).field).toBe('input');
  });

  it('refuses a limit that is not a positive integer when the workflow is defined', () => {
    expect(() =>
      defineWorkflow({ name: 'test.bad', input: z.object({}), keyConcurrency: { key: () => 'k', limit: 0 }, run: async () => null }),
    ).toThrow(/keyConcurrency.limit must be a positive integer/);
  });
});
