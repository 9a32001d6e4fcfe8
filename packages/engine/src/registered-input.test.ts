import { ValidationError } from '@runstream/domain';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRegisteredInputCheck } from './registered-input.js';
import { WorkflowRegistry } from './registry.js';
import { defineWorkflow } from './workflow.js';

/** The JSON Schema a worker registers for this input, as the registry exports it. */
const [registered] = new WorkflowRegistry([
  defineWorkflow({
    name: 'unit.order',
    input: z.object({
      orderId: z.number().int(),
      lines: z.array(z.object({ sku: z.string(), qty: z.number().int().min(1) })).optional(),
      'a/b': z.string().optional(),
    }),
    run: async () => null,
  }),
]).registrations();

function fieldOf(input: unknown): string | undefined {
  try {
    createRegisteredInputCheck()('unit.order@1', registered!.inputSchema, input);
    return undefined;
  } catch (error) {
    if (error instanceof ValidationError) return error.field;
    throw error;
  }
}

describe('registered input check (JSON Schema, for workflows whose code a node lacks)', () => {
  it('accepts what the zod schema accepts', () => {
    expect(fieldOf({ orderId: 1, lines: [{ sku: 'x', qty: 2 }] })).toBeUndefined();
  });

  it.each([
    [{ orderId: 'one' }, 'input.orderId'],
    [{}, 'input.orderId'],
    [{ orderId: 1, lines: [{ sku: 'x', qty: 2 }, { sku: 'y', qty: 0 }] }, 'input.lines[1].qty'],
    [{ orderId: 1, lines: [{ qty: 2 }] }, 'input.lines[0].sku'],
    [{ orderId: 1, 'a/b': 3 }, 'input.a/b'],
    ['text', 'input'],
  ])('names the field of %j as %s, as zod would', (input, field) => {
    expect(fieldOf(input)).toBe(field);
  });

  it('registers the options a node needs to show the workflow', () => {
    expect(registered).toMatchObject({ workflow: 'unit.order', options: { retries: null, concurrency: null, keyConcurrency: null } });
  });
});
