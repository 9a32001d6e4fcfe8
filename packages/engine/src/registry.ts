import { parseWith, UnknownWorkflowError } from '@runstream/domain';
import { z } from 'zod';
import type { WorkflowDefinition } from './workflow.js';

export interface WorkflowInfo {
  name: string;
  version: string;
  /** JSON Schema of the input, for clients that build forms or validate before submitting. */
  inputSchema: unknown;
  concurrency: number | null;
}

/** The workflows one engine knows, by name. Built per runtime; there is no global registry. */
export class WorkflowRegistry {
  private readonly byName = new Map<string, WorkflowDefinition>();

  constructor(definitions: Iterable<WorkflowDefinition>) {
    for (const definition of definitions) {
      if (this.byName.has(definition.name)) throw new TypeError(`workflow ${definition.name} is registered twice`);
      this.byName.set(definition.name, definition);
    }
  }

  get(name: string): WorkflowDefinition | undefined {
    return this.byName.get(name);
  }

  /** The definition, or UnknownWorkflowError. */
  require(name: string): WorkflowDefinition {
    const definition = this.byName.get(name);
    if (!definition) throw new UnknownWorkflowError(name);
    return definition;
  }

  /** Parses `input` with the workflow's schema; a ValidationError names the field as `input.<path>`. */
  parseInput(name: string, input: unknown): unknown {
    return parseWith(this.require(name).input, input, 'input');
  }

  list(): WorkflowInfo[] {
    return [...this.byName.values()].map((definition) => ({
      name: definition.name,
      version: definition.version,
      inputSchema: z.toJSONSchema(definition.input, { unrepresentable: 'any', io: 'input' }),
      concurrency: definition.concurrency ?? null,
    }));
  }
}
