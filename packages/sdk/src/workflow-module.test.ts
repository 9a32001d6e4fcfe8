import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkflowModule, WorkflowModuleError } from './workflow-module.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-workflow-module-'));
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
const sdk = pathToFileURL(join(import.meta.dirname, 'index.ts')).href;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function moduleFile(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `import { defineWorkflow, z } from ${JSON.stringify(sdk)};\n${body}`);
  return file;
}

const workflow = (name: string, output = '"ok"') =>
  `defineWorkflow({ name: ${JSON.stringify(name)}, input: z.object({ n: z.number() }), run: async (): Promise<string> => ${output} })`;

async function problemOf(file: string): Promise<WorkflowModuleError> {
  const error = await loadWorkflowModule(file).then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(WorkflowModuleError);
  expect((error as WorkflowModuleError).file).toBe(file);
  return error as WorkflowModuleError;
}

describe('loadWorkflowModule', () => {
  it('loads TypeScript without a build step: named exports, arrays and records of definitions, each once', async () => {
    const file = moduleFile(
      'good.ts',
      `export const a = ${workflow('m.a')};\nconst b = ${workflow('m.b')};\nexport const all = [a, b];\nexport default { a, b };\nexport const unrelated = 42;\n`,
    );
    const loaded = await loadWorkflowModule(file);
    expect(loaded.file).toBe(file);
    expect(loaded.workflows.map((definition) => definition.name).sort()).toEqual(['m.a', 'm.b']);
  });

  it('imports afresh on every call, so an edited module gives the new code and a new version', async () => {
    const file = moduleFile('edited.ts', `export const w = ${workflow('m.edit', '"one"')};\n`);
    const before = (await loadWorkflowModule(file)).workflows[0]!;
    moduleFile('edited.ts', `export const w = ${workflow('m.edit', '"two"')};\n`);
    const after = (await loadWorkflowModule(file)).workflows[0]!;
    expect(after.version).not.toBe(before.version);
    expect(await after.run({} as never, { n: 1 })).toBe('two');
  });

  it('names the file and the problem: missing, exports nothing, throws on import, two workflows with one name', async () => {
    expect((await problemOf(join(dir, 'missing.ts'))).problem).toBe('the file does not exist');
    expect((await problemOf(moduleFile('empty.ts', 'export const x = 1;\n'))).problem).toMatch(/exports no workflow definitions/);
    const throwing = await problemOf(moduleFile('throws.ts', 'throw new Error("config missing");\n'));
    expect(throwing.problem).toMatch(/importing it threw: config missing/);
    const twice = await problemOf(moduleFile('twice.ts', `export const a = ${workflow('m.same')};\nexport const b = ${workflow('m.same')};\n`));
    expect(twice.problem).toBe('it exports two workflows named "m.same"');
    expect(twice.message).toContain(join(dir, 'twice.ts'));
  });
});
