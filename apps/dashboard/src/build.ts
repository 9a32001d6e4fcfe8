import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboardDistDir } from './handler.js';

const configFile = fileURLToPath(new URL('../vite.config.ts', import.meta.url));

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
