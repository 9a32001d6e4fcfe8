/**
 * Generative API test driven by the OpenAPI document the server serves: for every route and parameter,
 * fast-check sends hostile values (NUL, unpaired surrogates, RTL, very long text, integers at and past every
 * boundary, dates at the edges, deep nesting, arbitrary JSON, wrong content types). Properties: the answer is 2xx
 * or 4xx, never 5xx; a 400 names a field; a refused write changes no row; the server logs no fault.
 * `RUNSTREAM_FUZZ_SEED` replays a run; the seed and the number of cases are printed.
 */
import { countRunsAndEvents } from '@runstream/store/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './testing/index.js';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
}
interface Route {
  method: string;
  path: string;
  operation: Operation;
}

let t: TestApi;
let routes: Route[];
let runId: string;
beforeAll(async () => {
  t = await startTestApi({ backend: 'postgres', worker: false });
  runId = (await t.client.runs.create({ workflow: 'demo.countdown', input: { count: 1 } })).run.id;
  const document = (await (await fetch(`${t.base}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
  routes = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
  );
});
afterAll(async () => {
  await t?.close();
});

const nastyText = fc.constantFrom(
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '\u202eevil\u202c',
  'שלום',
  '😀',
  '../../etc/passwd',
  '%00',
  '%',
  ' ',
  'null',
  'x'.repeat(10_000),
  'demo.countdown',
);
const nastyNumber = fc.constantFrom(
  0,
  -1,
  1,
  2_147_483_646,
  2_147_483_647,
  2_147_483_648,
  -2_147_483_649,
  3_000_000_000,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  1e308,
  -0,
  0.5,
);
const nastyDate = fc.constantFrom(
  '0000-01-01T00:00:00.000Z',
  '0001-01-01T00:00:00.000Z',
  '-271821-04-20T00:00:00.000Z',
  '+275760-09-13T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z',
  '+010000-01-01T00:00:00.000Z',
  '2026-02-30',
  'not a date',
);
const nastyCursor = fc.constantFrom(
  '1:9999999999999999999',
  '99999999999999999999:1',
  '18446744073709551615:9223372036854775807',
  '0:0',
  Buffer.from('+275760-09-13T00:00:00.000Z|0190f0f0-0000-7000-8000-000000000000').toString('base64url'),
  Buffer.from('garbage').toString('base64url'),
);
const deep = fc.integer({ min: 50, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth));

/** A query or header value: text of any kind. */
const scalarText = fc.oneof(
  nastyText,
  nastyNumber.map(String),
  nastyDate,
  nastyCursor,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constant('1e999'),
  fc.constant('NaN'),
);
/** A JSON value for a body field. */
const jsonField = fc.oneof(
  nastyText,
  nastyNumber,
  nastyDate,
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.oneof(nastyText, nastyNumber), { maxKeys: 4 }),
);
/** Every byte percent-encoded (encodeURIComponent throws on an unpaired surrogate). */
const percentEncoded = (text: string) => [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
const pathId = fc.oneof(fc.constant('{run}'), fc.uuid(), nastyText.map(percentEncoded), fc.constant('%00'));

interface Case {
  route: number;
  id: string;
  query: [string, string][];
  lastEventId: string | undefined;
  body: { kind: 'json'; fields: [string, unknown][]; deep: string | undefined } | { kind: 'raw'; type: string | undefined; text: string };
}

function caseFor(route: Route, index: number): fc.Arbitrary<Case> {
  const query = (route.operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
  const fields = Object.keys(route.operation.requestBody?.content?.['application/json']?.schema?.properties ?? {});
  return fc.record({
    route: fc.constant(index),
    id: pathId,
    query: fc.subarray(query).chain((names) => fc.tuple(...names.map((name) => fc.tuple(fc.constant(name), scalarText)))),
    lastEventId: fc.option(scalarText, { nil: undefined }),
    body: fc.oneof(
      { weight: 4, arbitrary: fc.record({
        kind: fc.constant('json' as const),
        fields: fc.subarray(fields).chain((names) => fc.tuple(...names.map((name) => fc.tuple(fc.constant(name), jsonField)))),
        deep: fc.option(deep, { nil: undefined }),
      }) },
      { weight: 1, arbitrary: fc.record({
        kind: fc.constant('raw' as const),
        type: fc.constantFrom(undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json'),
        text: fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.constant('{"workflow":'), fc.constant('workflow=demo.countdown&input=1')),
      }) },
    ),
  });
}

async function countRows(): Promise<string> {
  const { runs, events } = await countRunsAndEvents(t.runtime.store);
  return `${runs}/${events}`;
}

async function send(route: Route, c: Case): Promise<{ status: number; text: string }> {
  const path = route.path.replace('{id}', c.id === '{run}' ? runId : c.id);
  const url = new URL(`${t.base}/api${path}`);
  for (const [name, value] of c.query) url.searchParams.append(name, value);
  const headers: Record<string, string> = {};
  if (c.lastEventId !== undefined) headers['last-event-id'] = c.lastEventId.replace(/[^\x20-\x7e]/g, '');
  let body: string | undefined;
  if (route.method !== 'GET' && route.method !== 'HEAD') {
    if (c.body.kind === 'json') {
      const object = Object.fromEntries(c.body.fields);
      const text = JSON.stringify(object);
      // Deep nesting is spliced in as text: building it as a value would overflow the test's own stack.
      body = c.body.deep && text !== '{}' ? `${text.slice(0, -1)},"deep":${c.body.deep}}` : text;
      headers['content-type'] = 'application/json';
    } else {
      body = c.body.text;
      if (c.body.type) headers['content-type'] = c.body.type;
    }
  }
  const abort = new AbortController();
  const response = await fetch(url, { method: route.method, headers, ...(body === undefined ? {} : { body }), signal: abort.signal });
  // An event stream that opened is left at once: its status is the answer.
  if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    abort.abort();
    return { status: response.status, text: '' };
  }
  return { status: response.status, text: await response.text() };
}

describe('generative API test', () => {
  it('answers every generated request with 2xx or 4xx, names the field of a 400, and writes nothing it refused', async () => {
    const seed = Number(process.env.RUNSTREAM_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const numRuns = 2_500;
    let cases = 0;
    const arbitrary = fc.oneof(...routes.map((route, index) => caseFor(route, index)));
    const property = fc.asyncProperty(arbitrary, async (c) => {
      cases++;
      const route = routes[c.route]!;
      const write = route.method !== 'GET';
      const before = write ? await countRows() : '';
      const { status, text } = await send(route, c);
      const where = `${route.method} ${route.path} → ${status} ${text.slice(0, 300)}`;
      expect(status, where).toBeGreaterThanOrEqual(200);
      expect(status, where).toBeLessThan(500);
      if (status === 400) {
        expect((JSON.parse(text) as { data?: { field?: unknown } }).data?.field, where).toEqual(expect.any(String));
      }
      if (write && status >= 400) expect(await countRows(), where).toBe(before);
    });
    try {
      await fc.assert(property, { seed, numRuns, endOnFailure: true });
    } finally {
      console.log(`generative API test: seed ${seed}, ${cases} cases over ${routes.length} routes (RUNSTREAM_FUZZ_SEED=${seed} replays it)`);
    }
    expect(t.faults).toEqual([]);
  }, 120_000);
});
