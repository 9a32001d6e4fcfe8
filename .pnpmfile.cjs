/**
 * pnpm hooks. `beforePacking`: the published packages (@runstream/sdk, @runstream/client) bundle every workspace
 * package they import (tsdown's `deps.alwaysBundle`), which are never published themselves; so the packed
 * manifest lists no @runstream/* dependency, and no devDependencies (a user's install never reads them).
 */
module.exports = {
  hooks: {
    beforePacking(manifest) {
      for (const name of Object.keys(manifest.dependencies ?? {})) {
        if (name.startsWith('@runstream/')) delete manifest.dependencies[name];
      }
      delete manifest.devDependencies;
      return manifest;
    },
  },
};
