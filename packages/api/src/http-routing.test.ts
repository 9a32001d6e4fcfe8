import { describe, expect, it } from 'vitest';
import { createRouteTable, type Route } from './http-routing.js';

const route = (methods: Route['methods'], path: string): Route => ({ methods, path, handle: () => {} });

describe('route table', () => {
  const live = route(['GET', 'HEAD'], '/health/live');
  const document = route(['GET'], '/api/openapi.json');
  const stream = route(['GET'], '/api/runs/:id/stream');
  const api = route('*', '/api/*');
  const table = createRouteTable([live, document, stream, api]);

  it('matches an exact path only for its methods', () => {
    expect(table.match('HEAD', '/health/live')?.route).toBe(live);
    expect(table.match('POST', '/health/live')).toBeUndefined();
    expect(table.match('GET', '/health/live/')).toBeUndefined();
    expect(table.match('GET', '/health')).toBeUndefined();
  });

  it('takes the first row in table order whose method and path match', () => {
    expect(table.match('GET', '/api/openapi.json')?.route).toBe(document);
    expect(table.match('HEAD', '/api/openapi.json')?.route).toBe(api);
    expect(table.match('POST', '/api/runs/abc/stream')?.route).toBe(api);
  });

  it('passes a :name segment on as it stands, and never spans segments', () => {
    expect(table.match('GET', '/api/runs/a%2Fb/stream')).toEqual({ route: stream, params: { id: 'a%2Fb' } });
    expect(table.match('GET', '/api/runs/a/b/stream')?.route).toBe(api);
    expect(table.match('GET', '/api/runs//stream')?.route).toBe(api);
  });

  it('a /prefix/* row matches the prefix itself and everything below it, as oRPC prefixes do', () => {
    expect(table.match('PUT', '/api')?.route).toBe(api);
    expect(table.match('PUT', '/api/runs')?.route).toBe(api);
    expect(table.match('PUT', '/apis')).toBeUndefined();
    expect(table.match('PUT', '/rpc/runs')).toBeUndefined();
  });

  it('treats pattern characters in a literal segment literally', () => {
    const dotted = createRouteTable([route(['GET'], '/a.b')]);
    expect(dotted.match('GET', '/a.b')).toBeDefined();
    expect(dotted.match('GET', '/axb')).toBeUndefined();
  });
});
