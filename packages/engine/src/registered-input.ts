import { Validator, type Schema } from '@cfworker/json-schema';
import { fieldPath, ValidationError, type ValidationIssue } from '@runstream/domain';

/** Keywords whose error only says "a child failed": the child's own error names the field. */
const summaryKeywords: ReadonlySet<string> = new Set(['properties', 'items', 'prefixItems', 'allOf', '$ref', '$dynamicRef', 'false']);

/** `#/items/0/name` as path segments (`['items', 0, 'name']`), JSON Pointer escapes undone. */
function pointerPath(location: string): PropertyKey[] {
  const pointer = location.replace(/^#\/?/, '');
  if (pointer === '') return [];
  return pointer.split('/').map((segment) => {
    const key = decodeURIComponent(segment).replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : key;
  });
}

/**
 * Validators of registered input JSON Schemas (for workflows whose code this node does not have), one per
 * workflow version, built once and kept by the engine that owns this cache.
 */
export function createRegisteredInputCheck() {
  const validators = new Map<string, Validator>();

  /** Throws a ValidationError naming the first wrong field as `input.<path>` (as zod's parse would). */
  return function checkRegisteredInput(key: string, schema: unknown, input: unknown): void {
    if (typeof schema !== 'object' || schema === null) return;
    let validator = validators.get(key);
    if (!validator) {
      validator = new Validator(schema as Schema, '2020-12', false);
      validators.set(key, validator);
    }
    const { valid, errors } = validator.validate(input);
    if (valid) return;
    const issues: ValidationIssue[] = [];
    for (const error of errors) {
      if (summaryKeywords.has(error.keyword)) continue;
      const path = pointerPath(error.instanceLocation);
      // A missing property is reported at its parent: name the property itself.
      const required = error.keyword === 'required' ? /required property "(.+)"/.exec(error.error) : null;
      if (required) path.push(required[1]!);
      issues.push({ field: fieldPath('input', path), message: error.error.replace(/\.$/, '') });
    }
    if (issues.length === 0) issues.push({ field: 'input', message: 'does not match the workflow’s input schema' });
    throw new ValidationError(issues as [ValidationIssue, ...ValidationIssue[]]);
  };
}
