import { defineConfig } from 'tsdown';

/**
 * The published @runstream/client: one ESM bundle with its .d.ts, the contract and the domain's errors bundled in
 * (workspace packages, never published on their own); oRPC and zod stay `dependencies`.
 */
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  dts: { eager: true },
  clean: true,
  deps: { alwaysBundle: [/^@runstream\//] },
});
