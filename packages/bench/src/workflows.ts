import { defineWorkflow } from '@runstream/engine';
import { z } from 'zod';

/** The Runstream workflows the run benchmarks drive: no-op steps, so what is measured is the orchestration. */

const noop = async () => null;

export const steps1 = defineWorkflow({
  name: 'bench.steps1',
  input: z.object({}),
  run: async (ctx) => ctx.step('only', noop),
});

export const steps5 = defineWorkflow({
  name: 'bench.steps5',
  input: z.object({}),
  async run(ctx) {
    for (let i = 1; i <= 5; i++) await ctx.step(`step-${i}`, noop);
    return null;
  },
});

/** Emits chunks one after another until `count` or the wall-clock `until` (ms since epoch), whichever is first. */
export const emitter = defineWorkflow({
  name: 'bench.emitter',
  input: z.object({ count: z.number().int().positive(), until: z.number() }),
  async run(ctx, { count, until }) {
    let emitted = 0;
    while (emitted < count && Date.now() < until) {
      await ctx.emit({ i: emitted, at: performance.timeOrigin + performance.now() });
      emitted++;
    }
    return emitted;
  },
});

/** Seq of run.succeeded: created, started, 2 per step, succeeded. */
export const finalSeq = (steps: number) => 3 + 2 * steps;
