import { sql, type SQL } from 'drizzle-orm';

/**
 * A PostgreSQL array built from one JSON parameter. drizzle's `sql` template expands a JS array into a list of
 * parameters, which is not an array; this keeps the statement's shape (and its prepared plan) fixed.
 */
export function sqlArray(values: readonly (string | number)[], elementType: 'text' | 'bigint' | 'uuid'): SQL {
  return sql`array(select value::${sql.raw(elementType)} from jsonb_array_elements_text(${JSON.stringify(values)}::jsonb) as value)`;
}
