/**
 * Checks the workspace's package.json edges (dependencies and devDependencies alike) against the package layers
 * in scripts/package-layers.cjs and fails on any edge against them or any cycle; dependency-cruiser checks the
 * imports, but cannot see a manifest edge no file imports. `--graph` prints the package graph.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { layers, allowed } = createRequire(import.meta.url)('./package-layers.cjs');

const dirs = ['packages', 'apps'].flatMap((group) =>
  readdirSync(join(root, group))
    .map((name) => `${group}/${name}`)
    .filter((dir) => existsSync(join(root, dir, 'package.json'))),
);
const manifests = new Map(dirs.map((dir) => [dir, JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))]));
const dirOf = new Map([...manifests].map(([dir, manifest]) => [manifest.name, dir]));

/** dir → [{ to, kind }] for every workspace package it lists. */
const graph = new Map(
  [...manifests].map(([dir, manifest]) => [
    dir,
    ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].flatMap((kind) =>
      Object.keys(manifest[kind] ?? {})
        .filter((name) => dirOf.has(name))
        .map((name) => ({ to: dirOf.get(name), kind })),
    ),
  ]),
);

const problems = [];
for (const [dir, edges] of graph) {
  if (!(dir in layers)) {
    problems.push(`${dir} has no place in the layers (scripts/package-layers.cjs)`);
    continue;
  }
  const may = new Set(allowed(dir));
  for (const { to, kind } of edges) {
    if (!may.has(to)) problems.push(`${dir} → ${to} (${kind}) goes against the layers`);
  }
}

/** Every elementary cycle, each reported once, from its smallest member. */
function cycles() {
  const found = [];
  const order = [...graph.keys()].sort();
  for (const start of order) {
    const walk = (node, path) => {
      for (const { to } of graph.get(node)) {
        if (to === start) found.push([...path, start]);
        else if (to > start && !path.includes(to)) walk(to, [...path, to]);
      }
    };
    walk(start, [start]);
  }
  return found;
}
for (const cycle of cycles()) problems.push(`cycle: ${cycle.join(' → ')}`);

if (process.argv.includes('--graph')) {
  for (const [dir, edges] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    const list = edges.map(({ to, kind }) => (kind === 'dependencies' ? to : `${to} (${kind.replace('Dependencies', '')})`));
    console.log(`${dir} → ${list.join(', ') || '-'}`);
  }
}
if (problems.length > 0) {
  console.error(`package manifests: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`package manifests: ${graph.size} packages, ${[...graph.values()].flat().length} workspace edges, no cycle, all along the layers`);
