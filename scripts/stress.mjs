#!/usr/bin/env node
/**
 * Runs the integration suite N times with K copies at once, each copy its own vitest process (`pnpm test:stress`),
 * and prints every test that failed at least once with its count, and each copy's wall time: a test that fails
 * only when the machine is busy shows up here before CI finds it.
 *
 *   pnpm test:stress [--runs N] [--copies K] [vitest filters…]     (or STRESS_RUNS / STRESS_COPIES; default 1 × 2)
 *
 * Copies share this checkout: each vitest invocation already has its own databases (named after its process), queue
 * namespaces and ports, and the template database is built under an advisory lock.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const vitest = join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');

function parseArgs(argv) {
  const options = { runs: Number(process.env.STRESS_RUNS ?? 1), copies: Number(process.env.STRESS_COPIES ?? 2), filters: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs' || arg === '--copies') options[arg.slice(2)] = Number(argv[++i]);
    else if (arg === '--') continue;
    else options.filters.push(arg);
  }
  for (const key of ['runs', 'copies']) {
    if (!Number.isInteger(options[key]) || options[key] < 1) {
      console.error(`stress: --${key} must be a positive integer, got ${options[key]}`);
      process.exit(2);
    }
  }
  return options;
}

/** One vitest process; resolves with its exit code, wall time and JSON report path. */
function runCopy(label, outputFile, filters) {
  const began = performance.now();
  const child = spawn(
    process.execPath,
    [vitest, 'run', '--config', 'vitest.integration.config.ts', '--reporter=json', `--outputFile=${outputFile}`, ...filters],
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr = (stderr + chunk).slice(-20_000)));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ label, code, signal, seconds: (performance.now() - began) / 1000, outputFile, stderr });
    });
  });
}

/** Failed tests of one report, as `file › full name`; a file that failed outside any test counts as one. */
function failuresOf(report, label) {
  const failed = [];
  for (const file of report.testResults ?? []) {
    const path = relative(repoRoot, file.name);
    const tests = file.assertionResults ?? [];
    for (const test of tests) {
      if (test.status !== 'failed') continue;
      failed.push(`${path} › ${test.fullName}`);
      const why = (test.failureMessages?.[0] ?? '').split('\n').slice(0, 3).join('\n    ');
      console.log(`${label}: FAILED ${path} › ${test.fullName}\n    ${why}`);
    }
    if (file.status === 'failed' && !tests.some((test) => test.status === 'failed')) {
      failed.push(`${path} › (file: ${(file.message ?? 'failed outside its tests').split('\n')[0]})`);
    }
  }
  return failed;
}

const { runs, copies, filters } = parseArgs(process.argv.slice(2));
const reports = mkdtempSync(join(tmpdir(), 'runstream-stress-'));
const counts = new Map();
const walls = [];
let broken = 0;
console.log(`stress: ${runs} run(s) × ${copies} copies of the integration suite${filters.length ? ` (${filters.join(' ')})` : ''}`);
try {
  for (let run = 1; run <= runs; run++) {
    const results = await Promise.all(
      Array.from({ length: copies }, (_, c) => runCopy(`run ${run} copy ${c + 1}`, join(reports, `r${run}-c${c + 1}.json`), filters)),
    );
    for (const result of results) {
      let report;
      try {
        report = JSON.parse(readFileSync(result.outputFile, 'utf8'));
      } catch {
        broken++;
        console.log(`${result.label}: no report (exit ${result.code ?? result.signal}) after ${result.seconds.toFixed(1)} s\n${result.stderr}`);
        continue;
      }
      const failed = failuresOf(report, result.label);
      for (const name of failed) counts.set(name, (counts.get(name) ?? 0) + 1);
      walls.push(result.seconds);
      console.log(
        `${result.label}: ${result.seconds.toFixed(1)} s, ${report.numPassedTests}/${report.numTotalTests} passed` +
          (failed.length ? `, ${failed.length} failed` : ''),
      );
    }
  }
} finally {
  rmSync(reports, { recursive: true, force: true });
}

console.log('');
if (counts.size === 0 && broken === 0) {
  console.log(`no test failed in ${runs * copies} suite run(s); wall time per copy ${Math.min(...walls).toFixed(1)}–${Math.max(...walls).toFixed(1)} s`);
} else {
  console.log(`tests that failed at least once (of ${runs * copies} suite runs):`);
  for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) console.log(`  ${count}×  ${name}`);
  if (broken) console.log(`  ${broken} copy/copies produced no report`);
  process.exitCode = 1;
}
