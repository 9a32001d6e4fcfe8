import { defineWorkflow, SignalTimeoutError } from '@runstream/engine';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';

/** One progress event per tick, each tick a step, so a crash resumes at the tick it was on. */
export const countdown = defineWorkflow({
  name: 'demo.countdown',
  input: z.object({
    count: z.number().int().min(0).max(10_000),
    intervalMs: z.number().int().min(0).max(60_000).default(1_000),
  }),
  async run(ctx, { count, intervalMs }) {
    for (let remaining = count; remaining > 0; remaining--) {
      await ctx.step(`tick-${remaining}`, async ({ signal }) => {
        await delay(intervalMs, undefined, { signal });
      });
      await ctx.emit({ remaining: remaining - 1 });
    }
    return { done: true };
  },
});

/** Streams `text` word by word as chunks of one step, like an LLM writing its answer. */
export const tokens = defineWorkflow({
  name: 'demo.tokens',
  input: z.object({
    text: z.string().min(1).max(100_000),
    intervalMs: z.number().int().min(0).max(10_000).default(50),
  }),
  async run(ctx, { text, intervalMs }) {
    const words = text.split(/(?<=\s)/);
    const answer = await ctx.step('generate', async ({ chunk, signal }) => {
      for (const word of words) {
        await delay(intervalMs, undefined, { signal });
        await chunk(word);
      }
      return words.join('');
    });
    return { text: answer, words: words.length };
  },
});

/** A step that throws `failures` times, then succeeds: retries and backoff in action. */
export const flaky = defineWorkflow({
  name: 'demo.flaky',
  input: z.object({
    failures: z.number().int().min(0).max(20),
    backoffMs: z.number().int().min(1).max(60_000).default(200),
  }),
  retries: 20,
  async run(ctx, { failures, backoffMs }) {
    return ctx.step(
      'unreliable',
      async ({ attempt }) => {
        if (attempt <= failures) throw new Error(`attempt ${attempt} of ${failures + 1} fails on purpose`);
        return { succeededOnAttempt: attempt };
      },
      { retries: failures, backoff: { baseMs: backoffMs, maxMs: backoffMs * 8 } },
    );
  },
});

/** A durable timer: the run suspends, no worker is held, a delayed job wakes it. */
export const sleep = defineWorkflow({
  name: 'demo.sleep',
  input: z.object({ ms: z.number().int().min(0).max(7 * 24 * 3_600_000) }),
  async run(ctx, { ms }) {
    await ctx.sleep(ms);
    return { sleptMs: ms };
  },
});

/**
 * A human approval: the run waits (holding no worker) for an `approval` signal, sent from the dashboard, the CLI
 * (`runstream signal <runId> approval --data '{"approved":true,"by":"ana"}'`) or the API. Without one within
 * `timeoutMs` it ends unapproved.
 */
export const approval = defineWorkflow({
  name: 'demo.approval',
  input: z.object({
    request: z.string().min(1).max(1_000),
    timeoutMs: z.number().int().min(0).max(30 * 24 * 3_600_000).optional(),
  }),
  async run(ctx, { request, timeoutMs }) {
    try {
      const decision = await ctx.waitForSignal('approval', {
        schema: z.object({ approved: z.boolean(), by: z.string().min(1), comment: z.string().optional() }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      return { request, ...decision };
    } catch (error) {
      if (error instanceof SignalTimeoutError) return { request, approved: false, timedOut: true };
      throw error;
    }
  },
});

export const demoWorkflows = [countdown, tokens, flaky, sleep, approval];
