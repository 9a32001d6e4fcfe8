import type { WorkflowDefinition } from '@runstream/engine';
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

/** A workflows module that cannot be used: names the file and the problem (the CLI exits with code 2). */
export class WorkflowModuleError extends Error {
  override readonly name = 'WorkflowModuleError';
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`workflows module ${file}: ${problem}`, options);
  }
}

export interface LoadedWorkflows {
  /** The module's absolute path. */
  file: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- definitions with any input schema and output
  workflows: WorkflowDefinition<any, any>[];
}

function isWorkflowDefinition(value: unknown): value is WorkflowDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.name === 'string' &&
    typeof candidate.version === 'string' &&
    typeof candidate.run === 'function' &&
    typeof candidate.input === 'object' &&
    candidate.input !== null
  );
}

/**
 * Imports a module of workflow definitions (TypeScript or JavaScript, no build step: TypeScript goes through
 * tsx's loader, registered for the import) and collects every exported definition: exports that are
 * definitions, and arrays or plain objects of them (`export const workflows = [a, b]`, a default export). Each
 * call evaluates the module file afresh (a unique query), so a reload sees it edited; what it imports is shared
 * with the process (one `@runstream/sdk`, one zod), so files it imports are not re-evaluated. tsx's isolated
 * `tsImport` would re-evaluate those too, but it evaluates CommonJS dependencies already loaded here a second
 * time on the same exports object, which ioredis, for one, refuses.
 */
export async function loadWorkflowModule(path: string, cwd: string = process.cwd()): Promise<LoadedWorkflows> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new WorkflowModuleError(file, 'the file does not exist');
  if (!statSync(file).isFile()) throw new WorkflowModuleError(file, 'it is not a file');

  let exports: Record<string, unknown>;
  const unregister = register();
  try {
    exports = (await import(`${pathToFileURL(file).href}?runstream-load=${randomUUID()}`)) as Record<string, unknown>;
  } catch (error) {
    throw new WorkflowModuleError(file, `importing it threw: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  } finally {
    await unregister();
  }

  const found = new Set<WorkflowDefinition>();
  const collect = (value: unknown) => {
    if (isWorkflowDefinition(value)) found.add(value);
    else if (Array.isArray(value)) value.filter(isWorkflowDefinition).forEach((definition) => found.add(definition));
    else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
      Object.values(value).filter(isWorkflowDefinition).forEach((definition) => found.add(definition));
    }
  };
  for (const value of Object.values(exports)) collect(value);

  const workflows = [...found];
  if (workflows.length === 0) {
    throw new WorkflowModuleError(file, 'it exports no workflow definitions (export what defineWorkflow returns)');
  }
  const byName = new Map<string, number>();
  for (const workflow of workflows) byName.set(workflow.name, (byName.get(workflow.name) ?? 0) + 1);
  const twice = [...byName].filter(([, count]) => count > 1).map(([name]) => name);
  if (twice.length > 0) {
    throw new WorkflowModuleError(file, `it exports two workflows named ${twice.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  return { file, workflows };
}
