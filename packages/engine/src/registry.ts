import { parseWith, UnknownWorkflowError, ValidationError } from '@runstream/domain';
import type { NewWorkflowVersion } from '@runstream/store';
import { z } from 'zod';
import type { WorkflowDefinition } from './workflow.js';

export interface WorkflowInfo {
  name: string;
  version: string;
  /** JSON Schema of the input, for clients that build forms or validate before submitting. */
  inputSchema: unknown;
  concurrency: number | null;
  /** Runs at once per concurrency key (taken from the input); null when the workflow has no key. */
  keyConcurrency: number | null;
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

  /** The run's concurrency key from its parsed input; undefined when the workflow (or this input) has none. */
  concurrencyKey(name: string, parsedInput: unknown): string | undefined {
    const keyed = this.require(name).keyConcurrency;
    if (!keyed) return undefined;
    const key = keyed.key(parsedInput);
    if (key === undefined || key === null) return undefined;
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
      throw new ValidationError([{ field: 'input', message: 'the workflow\'s concurrency key must be a string of 1 to 200 characters' }]);
    }
    return key;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** What a worker records in the deployment's registry for each workflow it runs. */
  registrations(): NewWorkflowVersion[] {
    return this.list().map((info) => ({
      workflow: info.name,
      version: info.version,
      inputSchema: info.inputSchema,
      options: {
        retries: this.byName.get(info.name)!.retries ?? null,
        concurrency: info.concurrency,
        keyConcurrency: info.keyConcurrency,
      },
    }));
  }

  list(): WorkflowInfo[] {
    return [...this.byName.values()].map((definition) => ({
      name: definition.name,
      version: definition.version,
      inputSchema: z.toJSONSchema(definition.input, { unrepresentable: 'any', io: 'input' }),
      concurrency: definition.concurrency ?? null,
      keyConcurrency: definition.keyConcurrency?.limit ?? null,
    }));
  }
}
