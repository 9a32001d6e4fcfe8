import { cpSync, existsSync, rmSync } from 'node:fs';
import { defineConfig } from 'tsdown';

const root = new URL('.', import.meta.url);

/**
 * The published @runstream/sdk is one ESM bundle with its .d.ts: the workspace packages it is built from
 * (devDependencies, never published on their own) are bundled in; third-party packages stay `dependencies`.
 * The database migrations ship in `migrations/` (the bundled migrator reads `../migrations` from `dist/`), the
 * built dashboard in `dist/dashboard/`.
 */
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  dts: { eager: true },
  clean: true,
  deps: { alwaysBundle: [/^@runstream\//] },
  hooks: {
    'build:done': () => {
      const migrations = new URL('migrations', root);
      rmSync(migrations, { recursive: true, force: true });
      cpSync(new URL('../db/migrations', root), migrations, { recursive: true });
      const dashboard = new URL('../../apps/dashboard/dist/', root);
      if (!existsSync(new URL('index.html', dashboard))) throw new Error('build the dashboard first: pnpm build:dashboard');
      cpSync(dashboard, new URL('dist/dashboard', root), { recursive: true });
    },
  },
});
