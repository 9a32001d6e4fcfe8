import { z } from 'zod';
import { defineWorkflow } from '../workflow.js';

/** A durable timer of `ms`: the run suspends in `ctx.sleep`, holding no worker. */
export const sleepWorkflow = defineWorkflow({
  name: 'test.sleep',
  input: z.object({ ms: z.number().int().min(0) }),
  async run(ctx, { ms }) {
    await ctx.sleep(ms);
    return { sleptMs: ms };
  },
});
