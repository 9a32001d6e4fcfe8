import { migrateDatabase, migrationsFolder } from '@runstream/db';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import postgres from 'postgres';

export function testServices(): { adminUrl: string; redisUrl: string } {
  return {
    adminUrl: process.env.RUNSTREAM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.RUNSTREAM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(migrationsFolder, { recursive: true }).map(String).sort()) {
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(join(migrationsFolder, file)));
  }
  return hash.digest('hex').slice(0, 12);
}

/** SQLSTATE 53300: the server is at `max_connections` ("sorry, too many clients already"). */
const TOO_MANY_CONNECTIONS = '53300';
/** Backoff between attempts: the connections free up as other test files (or suites) finish their work. */
const ADMIN_BACKOFF_MS = [100, 250, 500, 1_000, 2_000, 2_000, 4_000, 4_000, 8_000, 8_000];

/**
 * Runs `fn` on a one-connection admin client. A server full of other clients is a passing condition of a server
 * shared by parallel test files and suites, not a failure of the test: such an attempt is retried after a backoff
 * (about half a minute in all, within the hook timeout). Retrying is safe: every admin operation here is idempotent
 * (`drop … if exists`, then create), and a refused connection ran nothing.
 */
async function withAdmin<T>(adminUrl: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      return await fn(sql);
    } catch (error) {
      const backoff = ADMIN_BACKOFF_MS[attempt];
      if ((error as { code?: string }).code !== TOO_MANY_CONNECTIONS || backoff === undefined) throw error;
      await delay(backoff);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
}

/**
 * Returns the name of a migrated template database for the current migrations, building it if needed.
 * Built under a temporary name and renamed when complete, under an advisory lock, so concurrent vitest runs
 * never clone a half-migrated template.
 */
export async function prepareTemplateDatabase(adminUrl: string): Promise<string> {
  const template = `rs_template_${migrationsHash()}`;
  return withAdmin(adminUrl, async (sql) => {
    await sql`select pg_advisory_lock(hashtext('runstream test template'))`;
    try {
      const [exists] = await sql`select 1 from pg_database where datname = ${template}`;
      if (exists) return template;
      const building = `${template}_building`;
      await sql`drop database if exists ${sql(building)} with (force)`;
      await sql`create database ${sql(building)}`;
      await migrateDatabase(databaseUrl(adminUrl, building));
      await sql`alter database ${sql(building)} rename to ${sql(template)}`;
      await sql`alter database ${sql(template)} with is_template true`;
      return template;
    } finally {
      await sql`select pg_advisory_unlock(hashtext('runstream test template'))`;
    }
  });
}

/** Creates (or re-creates) a database cloned from the template and returns its URL. */
export async function cloneDatabase(adminUrl: string, template: string, name: string): Promise<string> {
  await withAdmin(adminUrl, async (sql) => {
    await sql`drop database if exists ${sql(name)} with (force)`;
    await sql`create database ${sql(name)} template ${sql(template)}`;
  });
  return databaseUrl(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (sql) => sql`drop database if exists ${sql(name)} with (force)`);
}

/** Drops every database this vitest invocation created, including those of workers that crashed. */
export async function dropDatabasesOfRun(adminUrl: string, invocation: string): Promise<void> {
  await withAdmin(adminUrl, async (sql) => {
    const rows = await sql<{ datname: string }[]>`
      select datname from pg_database where datname like ${`rs_${invocation}_%`}`;
    for (const { datname } of rows) await sql`drop database if exists ${sql(datname)} with (force)`;
  });
}
