import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

export interface DatabaseHandle {
  db: Database;
  /** Ends every pooled connection; pending queries finish first, up to `timeoutSeconds`. */
  close(timeoutSeconds?: number): Promise<void>;
}

export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  /** `application_name`, visible in pg_stat_activity. */
  applicationName?: string;
}

export function connectDatabase(url: string, options: ConnectOptions = {}): DatabaseHandle {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'runstream' },
  });
  const db = drizzle(client, { schema }) as Database;
  return {
    db,
    close: (timeoutSeconds = 5) => client.end({ timeout: timeoutSeconds }),
  };
}

/** SQLSTATE of a driver error, if it came from PostgreSQL. */
export function pgErrorCode(error: unknown): string | undefined {
  const cause = error instanceof Error && 'cause' in error && error.cause ? error.cause : error;
  return typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
}

/** PostgreSQL error fields (constraint name) for a driver error, wrapped by drizzle or not. */
export function pgErrorConstraint(error: unknown): string | undefined {
  const cause = error instanceof Error && 'cause' in error && error.cause ? error.cause : error;
  return typeof cause === 'object' && cause !== null && 'constraint_name' in cause
    ? String(cause.constraint_name)
    : undefined;
}
