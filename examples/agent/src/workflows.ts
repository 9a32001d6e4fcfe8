import { defineWorkflow, z } from '@runstream/sdk';

/** Pretend tools: a search that times out on its first call, and a calculator. */
const tools = {
  search: async (query: string, attempt: number) => {
    if (attempt === 1) throw new Error(`search for "${query}" timed out`);
    return [`${query}: Runstream records every run as an append-only event log`, `${query}: streams are gap-free`];
  },
  calculate: async (expression: string) => expression.split('+').reduce((sum, term) => sum + Number(term), 0),
};

export const answerQuestion = defineWorkflow({
  name: 'agent.answer',
  input: z.object({ question: z.string().min(1) }),
  retries: 2,
  async run(ctx, { question }) {
    const plan = await ctx.step('plan', async () => [`search:${question}`, 'calculate:40+2']);
    const findings: string[] = [];
    for (const [index, task] of plan.entries()) {
      const [tool, argument] = task.split(':') as ['search' | 'calculate', string];
      const result = await ctx.step(
        `tool-${index}-${tool}`,
        async ({ attempt }) => (tool === 'search' ? tools.search(argument, attempt) : [String(await tools.calculate(argument))]),
        { backoff: { baseMs: 50, maxMs: 200 } },
      );
      findings.push(...result);
    }
    // The answer streams as chunks: a page following the run shows it grow word by word.
    const answer = await ctx.step('answer', async (step) => {
      const words = `Asked "${question}", I found: ${findings.join('; ')}.`.split(' ');
      for (const word of words) await step.chunk(`${word} `);
      return words.join(' ');
    });
    return { answer, toolCalls: plan.length };
  },
});

export const workflows = [answerQuestion];
