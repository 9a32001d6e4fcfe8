import type { IncomingMessage, ServerResponse } from 'node:http';

/** What every route's handler gets: the request, its parsed URL, and the path's `:name` parameters. */
export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Readonly<Record<string, string>>;
}

/**
 * Who may call a route, checked on the request's headers before its body is read: `public` (health, the OpenAPI
 * document), `credential` (a token in the headers or the query: the default), or `credential-or-body` (also a read
 * token in a small body: the RPC run stream's input field).
 */
export type RouteAccess = 'public' | 'credential' | 'credential-or-body';

/** One row of a route table; `Extra` is what the table's owner adds to every request (e.g. the credential). */
export interface Route<Extra extends object = object> {
  /** The methods it answers, or `'*'` for a handler that matches methods itself (oRPC's). */
  methods: readonly string[] | '*';
  /**
   * `/exact/path`; `/runs/:id/stream`, where `:id` is one path segment, passed on as it stands (not decoded);
   * or `/prefix/*`: the prefix itself and everything below it.
   */
  path: string;
  /** Answered while the server is closing (health); every other route gets a 503 then. */
  servedWhileClosing?: boolean;
  /** Default `credential`. */
  access?: RouteAccess;
  handle(request: RouteRequest & Extra): Promise<void> | void;
}

export interface RouteTable<R extends Route<never>> {
  /** The first route, in table order, whose method and path match; undefined when none does. */
  match(method: string, path: string): { route: R; params: Record<string, string> } | undefined;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function compilePath(path: string): { regexp: RegExp; names: string[] } {
  const names: string[] = [];
  const segments = path.split('/').slice(1);
  const prefix = segments.at(-1) === '*';
  const source = (prefix ? segments.slice(0, -1) : segments)
    .map((segment) => {
      if (!segment.startsWith(':')) return `/${escapeRegExp(segment)}`;
      names.push(segment.slice(1));
      return '/([^/]+)';
    })
    .join('');
  return { regexp: new RegExp(`^${source}${prefix ? '(?:/.*)?' : ''}$`), names };
}

/** A declarative route table, compiled once and consulted in one place by its owner's request listener. */
export function createRouteTable<R extends Route<never>>(routes: readonly R[]): RouteTable<R> {
  const compiled = routes.map((route) => ({ route, ...compilePath(route.path) }));
  return {
    match(method, path) {
      for (const { route, regexp, names } of compiled) {
        if (route.methods !== '*' && !route.methods.includes(method)) continue;
        const found = regexp.exec(path);
        if (!found) continue;
        return { route, params: Object.fromEntries(names.map((name, i) => [name, found[i + 1]!])) };
      }
      return undefined;
    },
  };
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Writes a whole, uncached response (JSON unless told otherwise). */
/** `retryAfter` (seconds) goes with a 503: the client should try again that much later. */
export function send(res: ServerResponse, status: number, body: string, contentType = JSON_TYPE, retryAfter?: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...(retryAfter ? { 'retry-after': retryAfter } : {}) });
  res.end(body);
}
