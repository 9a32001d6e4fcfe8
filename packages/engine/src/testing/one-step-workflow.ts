import { z } from 'zod';
import { defineWorkflow } from '../workflow.js';

/** A workflow of one step that returns the attempt it ran in: which execution finished a run, in recovery tests. */
export const oneStepWorkflow = (name: string) =>
  defineWorkflow({
    name,
    input: z.object({}),
    async run(ctx) {
      return ctx.step('only', async ({ attempt }) => ({ attempt }));
    },
  });
