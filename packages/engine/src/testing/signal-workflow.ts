import { z } from 'zod';
import { defineWorkflow, SignalTimeoutError } from '../workflow.js';

/**
 * A step, then `waits` waits for the signal `signal` (data `{ n: number }`), each with `timeoutMs` if given (a
 * timeout is caught and recorded as `'timed out'`), then a step: what every wait returned is the output.
 */
export const signalWorkflow = defineWorkflow({
  name: 'test.signal',
  input: z.object({
    signal: z.string(),
    waits: z.number().int().min(1).default(1),
    timeoutMs: z.number().int().min(0).optional(),
  }),
  async run(ctx, { signal, waits, timeoutMs }) {
    await ctx.step('before', async () => 'before');
    const received: unknown[] = [];
    for (let i = 0; i < waits; i++) {
      try {
        received.push(
          await ctx.waitForSignal(signal, {
            schema: z.object({ n: z.number() }),
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
          }),
        );
      } catch (error) {
        if (!(error instanceof SignalTimeoutError)) throw error;
        received.push('timed out');
      }
    }
    await ctx.step('after', async () => received.length);
    return { received };
  },
});
