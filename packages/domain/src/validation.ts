import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

/** Renders a zod issue path as `a.b[0].c`, prefixed with where the value came from. */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Parses `value` with `schema`, or throws a ValidationError naming the first wrong field under `prefix`. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map(
    (issue): ValidationIssue => ({ field: fieldPath(prefix, issue.path), message: issue.message }),
  );
  throw new ValidationError(issues as [ValidationIssue, ...ValidationIssue[]]);
}
