/**
 * The published packages, packed, and the examples installed from them with plain npm: each built once per version
 * of what it is built from and kept in the system temp directory (testkit's `buildOnce`), so a second suite on the
 * machine, or the next run of an unchanged tree, reuses them instead of spending a minute of CPU on the same bytes.
 */
import { buildOnce, contentHash } from '@runstream/testkit';
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { packPublicPackages, repoRoot, type PackedPackage } from '../../../../scripts/packages.js';

const run = promisify(execFile);

/** Tracked and new (not ignored) files under `paths`, tests excepted: what a build or an install can read. */
async function sourceFiles(...paths: string[]): Promise<{ path: string; name: string }[]> {
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...paths], {
    cwd: repoRoot,
    maxBuffer: 16 << 20,
  });
  return [...new Set(stdout.split('\n').filter((name) => name && !name.endsWith('.test.ts')))]
    .sort()
    .map((name) => ({ name, path: join(repoRoot, name) }));
}

export interface PackedPackages {
  /** Identifies the sources the tarballs were built from. */
  key: string;
  packages: PackedPackage[];
}

/**
 * `@runstream/client` and `@runstream/sdk` built and packed (scripts/packages.ts) from the workspace as it is now.
 * They bundle the workspace packages and the dashboard, so every package's sources, the lockfile and the pack
 * hooks make the key. Builds write the packages' `dist/` in place; the lock keeps two runs from doing it at once.
 */
export async function packedPackages(): Promise<PackedPackages> {
  const sources = ['packages', 'apps/dashboard', 'pnpm-lock.yaml', '.pnpmfile.cjs', 'package.json', 'tsconfig.json', 'scripts/packages.ts'];
  // The sdk's migrations/ is the build's copy of packages/db/migrations (already counted), rewritten by each build.
  const key = contentHash(await sourceFiles(...sources, ':(exclude)packages/sdk/migrations'));
  const dir = await buildOnce('runstream-test-packs', key, async (building) => {
    const packed = await packPublicPackages(building);
    const relative = packed.map((entry) => ({ ...entry, tarball: basename(entry.tarball) }));
    writeFileSync(join(building, 'packed.json'), JSON.stringify(relative));
  });
  const packed = JSON.parse(readFileSync(join(dir, 'packed.json'), 'utf8')) as PackedPackage[];
  return { key, packages: packed.map((entry) => ({ ...entry, tarball: join(dir, entry.tarball) })) };
}

/**
 * A copy of `examples/<name>` depending on the packed tarballs, installed with plain npm (no workspace links), kept
 * per version of the example and of the tarballs. Read-only to its users: several suites may run from it at once.
 */
export async function installedExample(name: string, packed: PackedPackages): Promise<string> {
  const key = contentHash(await sourceFiles(join('examples', name)), packed.key);
  return buildOnce('runstream-test-examples', `${name}-${key}`, async (dir) => {
    cpSync(join(repoRoot, 'examples', name), dir, { recursive: true, filter: (source) => !source.includes('node_modules') });
    const manifestPath = join(dir, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { dependencies: Record<string, string> };
    for (const { name: packageName, tarball } of packed.packages) {
      if (manifest.dependencies[packageName]) manifest.dependencies[packageName] = `file:${tarball}`;
    }
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, maxBuffer: 16 << 20 });
  });
}
