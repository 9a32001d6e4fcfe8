import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboardDistDir } from './handler.js';

const configFile = fileURLToPath(new URL('../vite.config.ts', import.meta.url));
const webDir = fileURLToPath(new URL('../web/', import.meta.url));
const lockfile = fileURLToPath(new URL('../../../pnpm-lock.yaml', import.meta.url));

/** Builds the dashboard into apps/dashboard/dist with Vite (what `pnpm build:dashboard` runs). */
export async function buildDashboard({ quiet = true } = {}): Promise<string> {
  const { build } = await import('vite');
  await build({ configFile, logLevel: quiet ? 'warn' : 'info' });
  return dashboardDistDir;
}

/** Builds the dashboard unless it is built already; returns its directory. */
export async function ensureDashboardBuilt(): Promise<string> {
  if (existsSync(join(dashboardDistDir, 'index.html'))) return dashboardDistDir;
  return buildDashboard();
}

/** Everything the build reads: the page's sources, the Vite config and the installed packages' versions. */
function sourcesHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(webDir, { recursive: true }).map(String).sort()) {
    const path = join(webDir, file);
    if (file.includes('node_modules')) continue;
    try {
      hash.update(file).update(readFileSync(path));
    } catch {
      // a directory
    }
  }
  hash.update(readFileSync(configFile)).update(readFileSync(lockfile));
  return hash.digest('hex').slice(0, 16);
}

/**
 * A build of the current sources in its own directory, kept and reused while they are unchanged (a Vite build costs
 * tens of seconds on a loaded machine, and tests ran one per file). Never `dist/`, which `pnpm start` and other test
 * runs rebuild in place under a running server. Built under a temporary name and renamed, so runs building at once
 * never serve half a build. Returns its directory (serve it with `createDashboardHandler({ distDir })`).
 */
export async function buildDashboardForTests(): Promise<string> {
  const root = join(tmpdir(), 'runstream-dashboard-builds');
  const dir = join(root, sourcesHash());
  if (existsSync(join(dir, 'index.html'))) return dir;
  mkdirSync(root, { recursive: true });
  const building = `${dir}.${process.pid}.building`;
  try {
    const { build } = await import('vite');
    await build({ configFile, logLevel: 'warn', build: { outDir: building, emptyOutDir: true } });
    try {
      renameSync(building, dir);
    } catch (error) {
      // Another run renamed its identical build into place first.
      if (!existsSync(join(dir, 'index.html'))) throw error;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}
