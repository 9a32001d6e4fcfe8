/**
 * The package layers, stated once: each workspace package may depend on the packages listed for it and, through
 * them, on everything beneath. `pnpm lint` checks every import (.dependency-cruiser.cjs) and every package.json
 * edge, devDependencies included (check-manifests.mjs), against it; the README's "Dependencies point one way"
 * line says the same in words. `testkit` sits above `db` and may be used by the tests of any package it does
 * not itself build on. Keys are package directories.
 */
const layers = {
  'packages/domain': [],
  'packages/db': ['packages/domain'],
  'packages/store': ['packages/db'],
  'packages/notify': ['packages/store'],
  'packages/outbox': ['packages/notify'],
  'packages/runtime': ['packages/outbox'],
  'packages/queue': [],
  'packages/engine': ['packages/runtime', 'packages/queue'],
  'packages/demo-workflows': ['packages/engine'],
  'packages/contract': ['packages/domain'],
  // The API's test server runs the demo workflows (a devDependency: production src cannot import it).
  'packages/api': ['packages/engine', 'packages/contract', 'packages/demo-workflows'],
  // The client's tests run against the API's test server (a devDependency).
  'packages/client': ['packages/contract', 'packages/api'],
  'packages/bench': ['packages/api'],
  'packages/testkit': ['packages/db'],
  'apps/dashboard': ['packages/contract'],
  // The SDK composes runtime, queue, engine and API (and serves the dashboard's files); it is also the typed client's home.
  'packages/sdk': ['packages/api', 'packages/client', 'apps/dashboard'],
  'apps/server': ['packages/sdk'],
  // `runstream start|worker|dev` run the server process; the CLI's tests write workflows against the SDK.
  'apps/cli': ['packages/client', 'apps/server'],
};
const testkit = 'packages/testkit';

function beneath(dir, seen = new Set()) {
  for (const below of layers[dir] ?? []) {
    if (!seen.has(below)) {
      seen.add(below);
      beneath(below, seen);
    }
  }
  return seen;
}

/** What `dir` may depend on: its layers beneath, and testkit (from tests) unless testkit builds on `dir`. */
function allowed(dir) {
  const set = beneath(dir);
  if (dir !== testkit && !beneath(testkit).has(dir)) set.add(testkit);
  return [...set];
}

module.exports = { layers, testkit, beneath, allowed };
