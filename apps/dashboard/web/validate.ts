/**
 * Checks a start-run form's JSON input against the workflow's input JSON Schema before it is sent.
 *
 * The validator is @cfworker/json-schema: small (no dependencies, ~10 kB minified+gzipped in the bundle),
 * it interprets the schema instead of compiling it with `new Function` (so it works under a strict CSP), it
 * understands draft 2020-12 (what zod's `toJSONSchema` emits) including $ref/$defs, and it reports every error
 * with its instance location, which is what we show next to the input. Ajv would be ~4× larger and codegen-based;
 * a hand-written subset would drift from the server's zod schemas on the first `anyOf` or `$ref`.
 * The server stays the authority: its BAD_REQUEST answer is shown too.
 */
import { Validator, type Schema } from '@cfworker/json-schema';

export interface InputIssue {
  /** Where in the input: `count`, `items/0/name`, or empty for the input as a whole. */
  path: string;
  message: string;
}

export type ParsedInput = { ok: true; value: unknown } | { ok: false; syntax: string };

export function parseJson(text: string): ParsedInput {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, syntax: (error as Error).message };
  }
}

// Keywords whose error only says "a child failed": the child's own error is the useful one.
const summaries = new Set(['properties', 'items', 'prefixItems', 'allOf', '$ref', '$dynamicRef', 'false']);

const validators = new WeakMap<object, Validator>();

/** The schema's errors for `value` (empty when valid, or when the workflow publishes no usable schema). */
export function validateInput(schema: unknown, value: unknown): InputIssue[] {
  if (typeof schema !== 'object' || schema === null) return [];
  let validator = validators.get(schema);
  if (!validator) {
    validator = new Validator(schema as Schema, '2020-12', false);
    validators.set(schema, validator);
  }
  if (value === undefined) return [{ path: '', message: 'enter the input as JSON' }];
  let result: ReturnType<Validator['validate']>;
  try {
    result = validator.validate(value);
  } catch (error) {
    return [{ path: '', message: `cannot be checked: ${(error as Error).message}` }];
  }
  const { valid, errors } = result;
  if (valid) return [];
  const issues: InputIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (summaries.has(error.keyword)) continue;
    const path = decodeURIComponent(error.instanceLocation.replace(/^#\/?/, ''));
    const message = humanize(error.error);
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ path, message });
  }
  return issues.length > 0 ? issues : [{ path: '', message: 'does not match the workflow’s input schema' }];
}

function humanize(message: string): string {
  return message
    .replace(/^Instance type "(\w+)" is invalid\. Expected "([\w", ]+)"\.$/, 'must be $2 (got $1)')
    .replace(/^Instance does not have required property "(.+)"\.$/, 'property "$1" is required')
    .replace(/^(.+) is less than (.+)\.$/, 'must be at least $2 (got $1)')
    .replace(/^(.+) is greater than (.+)\.$/, 'must be at most $2 (got $1)')
    .replace(/\.$/, '');
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  anyOf?: JsonSchema[];
};

/** A starting input for the form: required properties (and those with defaults) filled with plausible values. */
export function exampleInput(schema: unknown, depth = 0): unknown {
  const s = (schema ?? {}) as JsonSchema;
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (s.examples?.length) return s.examples[0];
  if (s.enum?.length) return s.enum[0];
  if (s.anyOf?.length) return exampleInput(s.anyOf[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      if (depth > 4) return {};
      const out: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(s.properties ?? {})) {
        if (s.required?.includes(key) || property.default !== undefined) out[key] = exampleInput(property, depth + 1);
      }
      return out;
    }
    case 'array':
      return [];
    case 'string':
      return 'Hello from the Runstream dashboard';
    case 'integer':
    case 'number':
    {
      const low = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -Infinity);
      return Math.min(Math.max(3, low), s.maximum ?? Infinity);
    }
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return {};
  }
}
