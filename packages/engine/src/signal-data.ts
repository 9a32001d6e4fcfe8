import { Validator, type Schema } from '@cfworker/json-schema';
import { ValidationError, type ValidationIssue } from '@runstream/domain';

// Keywords whose error only says "a child failed": the child's own error names the field.
const summaries = new Set(['properties', 'items', 'prefixItems', 'allOf', '$ref', '$dynamicRef', 'false']);

/** `#/items/0/name` as `data.items[0].name`, the way zod-checked fields are named. */
function fieldName(instanceLocation: string): string {
  let field = 'data';
  for (const part of instanceLocation.replace(/^#\/?/, '').split('/')) {
    if (part === '') continue;
    const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~');
    field += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return field;
}

/**
 * Checks a signal's data against the JSON Schema its wait recorded (zod's draft 2020-12 output), the way the
 * dashboard checks a workflow's input: @cfworker/json-schema interprets the schema, no code generation.
 * Throws a ValidationError naming the first wrong field as `data.<path>`.
 */
export function checkSignalData(schema: unknown, data: unknown): void {
  if (typeof schema !== 'object' || schema === null) return;
  const { valid, errors } = new Validator(schema as Schema, '2020-12', false).validate(data);
  if (valid) return;
  const issues = errors
    .filter((error) => !summaries.has(error.keyword))
    .map((error): ValidationIssue => ({ field: fieldName(error.instanceLocation), message: error.error }));
  throw new ValidationError(
    (issues.length > 0 ? issues : [{ field: 'data', message: 'does not match the schema of the wait' }]) as [
      ValidationIssue,
      ...ValidationIssue[],
    ],
  );
}
