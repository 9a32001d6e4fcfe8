/**
 * `pnpm lint`'s import check (dependency-cruiser). Fails on an import against the package layers (stated once, in
 * scripts/package-layers.cjs), a run-time module cycle, testkit or test code imported by production code, a
 * devDependency imported by production src, an unresolvable import, and a relative import into another package.
 * Manifest edges no file imports are checked by scripts/check-manifests.mjs.
 */
const { readFileSync } = require('node:fs');
const { allowed, layers, testkit } = require('./scripts/package-layers.cjs');

/** Test code: test files, fixtures under `src/testing/` (exported as `./testing`), tool configs. */
const testCode = '(\\.test\\.ts$|/src/testing/|^[^/]+/[^/]+/[^/]+\\.config\\.ts$)';

/** Build tooling inside a package's src: the dashboard's `./build` entry runs Vite, a build-time devDependency. */
const buildTooling = '^apps/dashboard/src/build\\.ts$';

/** The peer benchmark drives DBOS Transact, a devDependency of the bench package: a yardstick, never shipped. */
const peerBenchmark = '^packages/bench/src/peers\\.ts$';

const asPattern = (dir) => dir.replace(/[.-]/g, (c) => `\\${c}`);
const manifest = (dir) => JSON.parse(readFileSync(`${__dirname}/${dir}/package.json`, 'utf8'));
const dirOf = new Map(Object.keys(layers).map((dir) => [manifest(dir).name, dir]));

/** The workspace packages `dir` lists only as devDependencies (they resolve to source, not to node_modules). */
function devOnlyWorkspacePackages(dir) {
  const { dependencies = {}, devDependencies = {} } = manifest(dir);
  return Object.keys(devDependencies).filter((name) => dirOf.has(name) && !(name in dependencies)).map((name) => dirOf.get(name));
}

module.exports = {
  forbidden: [
    ...Object.keys(layers).map((dir) => ({
      name: 'layer-order',
      comment: `${dir} may import only ${allowed(dir).join(', ') || 'no other package'} (layers in scripts/package-layers.cjs)`,
      severity: 'error',
      from: { path: `^${asPattern(dir)}/` },
      to: { path: '^(packages|apps)/[^/]+/', pathNot: `^(${[dir, ...allowed(dir)].map(asPattern).join('|')})/` },
    })),
    {
      name: 'no-circular',
      comment: 'a module cycle',
      severity: 'error',
      from: {},
      // Type-only imports vanish at compile time, so a cycle through one is no cycle at run time.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'testkit-only-in-tests',
      comment: 'testkit is test support: only tests and test fixtures import it',
      severity: 'error',
      from: { pathNot: [testCode, `^${testkit}/`] },
      to: { path: `^${testkit}/` },
    },
    {
      name: 'no-test-code-in-production',
      comment: 'production code imports neither test files nor test fixtures',
      severity: 'error',
      from: { path: '^(packages|apps)/', pathNot: testCode },
      to: { path: testCode },
    },
    {
      name: 'no-dev-dependency-in-production',
      comment: 'production code imports only its package.json dependencies',
      severity: 'error',
      from: { path: '^(packages|apps)/[^/]+/src/', pathNot: [testCode, buildTooling, peerBenchmark] },
      to: { dependencyTypes: ['npm-dev'] },
    },
    ...Object.keys(layers)
      .filter((dir) => devOnlyWorkspacePackages(dir).length > 0)
      .map((dir) => ({
        name: 'no-dev-dependency-in-production',
        comment: `production code of ${dir} imports only its package.json dependencies`,
        severity: 'error',
        // web/ is bundled by Vite at build time: its imports are build inputs, not the package's run-time dependencies.
        from: { path: `^${asPattern(dir)}/src/`, pathNot: testCode },
        to: { path: `^(${devOnlyWorkspacePackages(dir).map(asPattern).join('|')})/` },
      })),
    {
      name: 'not-to-unresolvable',
      comment: 'an import that resolves to nothing (a package missing from package.json, or a wrong path)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-relative-import-across-packages',
      comment: 'another package is imported by its name (its public entry points), never by a relative path',
      severity: 'error',
      from: { path: '^(packages|apps)/([^/]+)/' },
      to: { dependencyTypes: ['local'], path: '^(packages|apps)/', pathNot: '^$1/$2/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(packages|apps)/[^/]+/(dist|migrations)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
