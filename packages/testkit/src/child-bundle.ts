import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inject } from 'vitest';

/** Where this vitest invocation keeps its bundles (removed by the global setup's teardown). */
export function bundlesDir(invocation: string): string {
  return join(tmpdir(), 'runstream-test-bundles', invocation);
}

/**
 * The workspace's TypeScript compiled into the bundle; every other package stays an import of its installed file
 * (by absolute path, since the bundle lives outside the repository). Each module keeps its own `import.meta.url`
 * and `import.meta.dirname`, so paths it resolves from them (migrations, the dashboard's files) are unchanged.
 */
const workspaceOnly: Plugin = {
  name: 'workspace-only',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.path.startsWith('@runstream/') || args.pluginData?.installed) return undefined;
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      const resolved = await builder.resolve(args.path, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        importer: args.importer,
        pluginData: { installed: true },
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, external: true };
    });
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return {
        loader: 'ts',
        contents: source
          .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path))),
      };
    });
  },
};

/**
 * A TypeScript entry point compiled once per vitest invocation into one ES module, for tests that start it as a
 * child process (`node <bundle>`). Starting through the tsx loader compiles the entry's whole import graph in
 * every child, which on a loaded machine costs seconds per process; the bundle starts as fast as plain node.
 * Built under a temporary name and renamed, so test files asking for the same entry at once never see half a file.
 */
export async function bundleForChild(entry: string): Promise<string> {
  const dir = bundlesDir(inject('runstreamTest').invocation);
  const file = join(dir, `${basename(entry, '.ts')}-${createHash('sha256').update(entry).digest('hex').slice(0, 8)}.mjs`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const building = `${file}.${process.pid}.building`;
  try {
    await build({
      entryPoints: [entry],
      outfile: building,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
      // Resolve installed packages as node will load them: esbuild's default `module` condition picks builds
      // node cannot run as they stand (@opentelemetry/api's extensionless ESM).
      conditions: [],
      plugins: [workspaceOnly],
    });
    renameSync(building, file);
  } finally {
    rmSync(building, { force: true });
  }
  return file;
}
