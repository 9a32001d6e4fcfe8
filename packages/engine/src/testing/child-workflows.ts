import { z } from 'zod';
import { ChildRunFailedError, defineWorkflow } from '../workflow.js';
import { signalWorkflow } from './signal-workflow.js';

/** A child that doubles `n`, or fails when `fail` is set. */
export const childWorkflow = defineWorkflow({
  name: 'test.child',
  input: z.object({ n: z.number(), fail: z.boolean().default(false) }),
  async run(ctx, { n, fail }) {
    return ctx.step('double', async () => {
      if (fail) throw new Error(`child ${n} fails on purpose`);
      return n * 2;
    });
  },
});

/**
 * Starts one `test.child` per entry of `children` and awaits each result (a failure is caught and recorded), or,
 * with `waitingChild`, one `test.signal` child that waits for a signal nobody sends (the cancel cascade test).
 */
export const parentWorkflow = defineWorkflow({
  name: 'test.parent',
  input: z.object({ children: z.array(z.object({ n: z.number(), fail: z.boolean().optional() })), waitingChild: z.boolean().default(false) }),
  async run(ctx, { children, waitingChild }) {
    if (waitingChild) {
      const child = await ctx.startChild(signalWorkflow, { signal: 'never' });
      return child.result();
    }
    const handles = [];
    for (const input of children) handles.push(await ctx.startChild(childWorkflow, input));
    const results: unknown[] = [];
    for (const handle of handles) {
      try {
        results.push(await handle.result());
      } catch (error) {
        if (!(error instanceof ChildRunFailedError)) throw error;
        results.push({ failed: handle.runId, status: error.status, message: error.error?.message });
      }
    }
    return { results, childIds: handles.map((handle) => handle.runId) };
  },
});
