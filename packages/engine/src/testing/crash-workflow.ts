import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { defineWorkflow } from '../workflow.js';

/** The chunk a crash-test step streams at `index`: the test checks the completed attempt's chunks against it. */
export const crashChunk = (step: number, index: number) => `s${step}c${index}`;
/** What a crash-test step returns. */
export const crashStepOutput = (step: number, chunks: number) => ({ step, text: Array.from({ length: chunks }, (_, i) => crashChunk(step, i)).join('') });

/**
 * Several steps, each taking a while and streaming chunks as it goes: a worker killed at a random moment is most
 * likely caught inside a step, half-way through its chunks. Shared by the crash test and its worker process.
 */
export const crashWorkflow = defineWorkflow({
  name: 'test.crash-steps',
  input: z.object({
    steps: z.number().int().min(1).max(50),
    chunks: z.number().int().min(1).max(100),
    chunkMs: z.number().int().min(0).max(10_000),
  }),
  async run(ctx, { steps, chunks, chunkMs }) {
    const outputs = [];
    for (let step = 0; step < steps; step++) {
      outputs.push(
        await ctx.step(`step-${step}`, async ({ chunk, signal }) => {
          for (let index = 0; index < chunks; index++) {
            await delay(chunkMs, undefined, { signal });
            await chunk(crashChunk(step, index));
          }
          return crashStepOutput(step, chunks);
        }),
      );
    }
    return { outputs };
  },
});
