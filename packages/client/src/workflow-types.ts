import type { z } from 'zod';

/**
 * What the typed client and the SDK need to know of a workflow definition, structurally: its name, its input
 * schema and what `run` resolves to. `defineWorkflow`'s result matches it, so `typeof workflows` of an app's
 * own module types the client without the client depending on the engine.
 */
export interface WorkflowShape {
  readonly name: string;
  readonly input: z.ZodType;
  run(context: never, input: never): Promise<unknown>;
}

/** What a workflow accepts as input (before its schema's defaults and transforms). */
export type WorkflowInput<W extends WorkflowShape> = z.input<W['input']>;

/** What a workflow's run resolves to. */
export type WorkflowOutput<W extends WorkflowShape> = Awaited<ReturnType<W['run']>>;

/** The workflows of an app, as a list (`[a, b]`) or a record (`{ a, b }`, e.g. `import * as workflows`). */
export type WorkflowCollection = readonly WorkflowShape[] | { readonly [key: string]: unknown };

/** The workflow definitions in a collection, as a union. */
export type WorkflowsIn<C> = C extends readonly (infer W)[]
  ? Extract<W, WorkflowShape>
  : Extract<C[keyof C], WorkflowShape>;

/** The workflow of a collection that has this name. */
export type WorkflowNamed<C, N extends string> = Extract<WorkflowsIn<C>, { readonly name: N }>;
