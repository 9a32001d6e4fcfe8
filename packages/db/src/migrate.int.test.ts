import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrateDatabase, migrationsFolder } from './migrate.js';

// testkit's createTestDatabase() clones an already-migrated template (testkit builds on db, so db's tests do
// not use it); this file needs an empty database instead. Its name carries the invocation prefix, so the
// global teardown drops it even if this file crashes.
const { adminUrl, invocation } = inject('runstreamTest');
const name = `rs_${invocation}_migrate_${randomBytes(4).toString('hex')}`;
const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
let admin: postgres.Sql;

beforeAll(async () => {
  admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin`create database ${admin(name)}`;
});
afterAll(async () => {
  await admin`drop database if exists ${admin(name)} with (force)`;
  await admin.end({ timeout: 5 });
});

describe('migrateDatabase', () => {
  it('run five times at once on an empty database, applies each migration exactly once', async () => {
    const files = readdirSync(migrationsFolder).filter((file) => file.endsWith('.sql'));
    const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
      entries: unknown[];
    };
    expect(files.length).toBeGreaterThan(0);
    expect(journal.entries).toHaveLength(files.length);

    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [before] = await sql<{ n: number }[]>`
        select count(*)::int as n from information_schema.tables where table_schema = 'public'`;
      expect(before?.n).toBe(0);

      const results = await Promise.allSettled(Array.from({ length: 5 }, () => migrateDatabase(url)));
      expect(results.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok'))).toEqual(
        Array(5).fill('ok'),
      );

      const tables = await sql<{ table_name: string }[]>`
        select table_name from information_schema.tables
        where table_schema = 'public' and table_name in ('runs', 'run_events', 'outbox')
        order by table_name`;
      expect(tables.map((row) => row.table_name)).toEqual(['outbox', 'run_events', 'runs']);

      const applied = await sql<{ hash: string }[]>`select hash from drizzle.__drizzle_migrations order by id`;
      expect(applied).toHaveLength(files.length);
      expect(new Set(applied.map((row) => row.hash)).size).toBe(files.length);

      // And once more, later: nothing left to do.
      await migrateDatabase(url);
      const [again] = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(again?.n).toBe(files.length);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});
