import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Entries no run has used for this long are removed when a new one is built (a run uses its entry for minutes). */
const UNUSED_ENTRY_MS = 6 * 60 * 60 * 1000;
/** How often a run waiting for another's build looks again. */
const WAIT_POLL_MS = 250;

/** A sha256 (16 hex digits) of these files' paths and contents; a listed file that is missing counts as such. */
export function contentHash(files: Iterable<{ path: string; name: string }>, ...extra: string[]): string {
  const hash = createHash('sha256');
  for (const { path, name } of files) {
    hash.update(name).update('\0');
    try {
      hash.update(readFileSync(path));
    } catch {
      hash.update('(missing)');
    }
    hash.update('\0');
  }
  for (const value of extra) hash.update(value).update('\0');
  return hash.digest('hex').slice(0, 16);
}

function ownerAlive(lock: string): boolean {
  try {
    process.kill(Number(readFileSync(join(lock, 'pid'), 'utf8')), 0);
    return true;
  } catch (error) {
    // EPERM: alive, but someone else's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pruneUnused(root: string, keep: string): void {
  for (const entry of readdirSync(root)) {
    if (entry === keep || entry.includes('.')) continue;
    const path = join(root, entry);
    try {
      if (Date.now() - statSync(path).mtimeMs > UNUSED_ENTRY_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by another run meanwhile.
    }
  }
}

/**
 * A directory `build` fills once per `key`, kept in the system temp directory under `kind` and shared by every
 * test run on the machine (several suites at once, other clones). One run builds, under a lock (a directory holding
 * its pid, taken over if that process died), into a temporary name renamed into place when complete; the others
 * wait for that rename, so none sees half a build and none builds the same thing twice. Entries unused for hours
 * are removed when a new one is built.
 */
export async function buildOnce(kind: string, key: string, build: (dir: string) => Promise<void>): Promise<string> {
  const root = join(tmpdir(), kind);
  const dir = join(root, key);
  const lock = `${dir}.lock`;
  mkdirSync(root, { recursive: true });
  for (;;) {
    if (existsSync(dir)) {
      const now = new Date();
      utimesSync(dir, now, now);
      return dir;
    }
    try {
      mkdirSync(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Another run is building it: wait for its rename, or take over if it died (or died between mkdir and pid).
      if (!ownerAlive(lock) && existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 5_000) {
        rmSync(lock, { recursive: true, force: true });
      }
      await delay(WAIT_POLL_MS);
      continue;
    }
    const building = `${dir}.${process.pid}.building`;
    try {
      writeFileSync(join(lock, 'pid'), String(process.pid));
      rmSync(building, { recursive: true, force: true });
      mkdirSync(building);
      await build(building);
      renameSync(building, dir);
      pruneUnused(root, key);
      return dir;
    } finally {
      rmSync(building, { recursive: true, force: true });
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
