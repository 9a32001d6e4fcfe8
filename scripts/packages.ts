/**
 * The packages users install (`@runstream/sdk`, `@runstream/client`): build them, `pnpm pack` them (pnpm turns
 * `workspace:` ranges into versions and applies `publishConfig`), and, run as a script (`pnpm check:packages`),
 * check each tarball with publint and Are the Types Wrong.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = resolve(import.meta.dirname, '..');

/** What is published, in dependency order. */
export const publicPackages = ['packages/client', 'packages/sdk'] as const;

export interface PackedPackage {
  name: string;
  version: string;
  tarball: string;
}

/**
 * Builds the dashboard and each public package, packs them into `outDir`, and returns the tarballs. The client's
 * build runs while the dashboard and then the sdk (which copies the built dashboard) build: each costs seconds.
 */
export async function packPublicPackages(outDir: string): Promise<PackedPackage[]> {
  mkdirSync(outDir, { recursive: true });
  const build = (dir: string) => run('pnpm', ['run', 'build'], { cwd: join(repoRoot, dir), maxBuffer: 16 << 20 });
  await Promise.all([
    build('packages/client'),
    run('pnpm', ['build:dashboard'], { cwd: repoRoot }).then(() => build('packages/sdk')),
  ]);
  const packed: PackedPackage[] = [];
  for (const dir of publicPackages) {
    const cwd = join(repoRoot, dir);
    const manifest = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { name: string; version: string };
    const before = new Set(readdirSync(outDir));
    await run('pnpm', ['pack', '--pack-destination', outDir], { cwd });
    const tarball = readdirSync(outDir).find((file) => file.endsWith('.tgz') && !before.has(file));
    if (!tarball) throw new Error(`pnpm pack of ${manifest.name} wrote no tarball`);
    packed.push({ name: manifest.name, version: manifest.version, tarball: join(outDir, tarball) });
  }
  return packed;
}

async function check(): Promise<void> {
  const outDir = join(repoRoot, 'node_modules', '.runstream-packs');
  const packed = await packPublicPackages(outDir);
  let failed = false;
  for (const { name, tarball } of packed) {
    for (const [tool, args] of [
      ['publint', ['run', tarball, '--strict']],
      ['attw', [tarball, '--profile', 'esm-only']],
    ] as const) {
      try {
        const { stdout } = await run('pnpm', ['exec', tool, ...args], { cwd: repoRoot });
        process.stdout.write(`${name}: ${tool} ok\n${stdout}`);
      } catch (error) {
        failed = true;
        const { stdout, stderr } = error as { stdout?: string; stderr?: string };
        process.stdout.write(`${name}: ${tool} FAILED\n${stdout ?? ''}${stderr ?? ''}\n`);
      }
    }
  }
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await check();
