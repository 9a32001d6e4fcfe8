/**
 * The dashboard's view of the REST API (`/api`, see packages/contract): plain `fetch` plus `EventSource`, so the
 * bundle carries no RPC runtime or zod. Types describe the JSON on the wire (dates are ISO strings).
 *
 * Auth: the page calls the API without credentials. If the server answers 401 it has tokens configured; the
 * page then asks for an API token (kept in sessionStorage for the tab) and sends it as a bearer header.
 * `EventSource` cannot send headers, so a run page mints a run-scoped read token (`POST /api/runs/{id}/token`)
 * and passes it as `?token=`; the cross-run feed is read with `fetch` (see sse.ts), which can send the header.
 */

import type { FieldIssue, Run, RunPage, RunStatus, Workflow } from './types.js';

export type * from './types.js';
export { runStatuses } from './types.js';

/** An error the API answered with: its HTTP status, oRPC code, message and (for BAD_REQUEST) field issues. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
  }

  /** The field-level detail of a BAD_REQUEST (`data.field`, `data.issues`), if any. */
  get issues(): { field: string; issues: FieldIssue[] } | null {
    const data = this.data as { field?: unknown; issues?: unknown } | null | undefined;
    if (!data || typeof data.field !== 'string') return null;
    const issues = Array.isArray(data.issues)
      ? data.issues.filter((issue): issue is FieldIssue => typeof issue?.field === 'string' && typeof issue?.message === 'string')
      : [];
    return { field: data.field, issues };
  }
}

const tokenKey = 'runstream.apiToken';

/** Listeners told when the server asks for a token (401), so the shell can show the token form. */
const authListeners = new Set<() => void>();

export const auth = {
  get token(): string | null {
    return sessionStorage.getItem(tokenKey);
  },
  set(token: string | null) {
    if (token) sessionStorage.setItem(tokenKey, token);
    else sessionStorage.removeItem(tokenKey);
  },
  onRequired(listener: () => void): () => void {
    authListeners.add(listener);
    return () => authListeners.delete(listener);
  },
  headers(): Record<string, string> {
    const token = auth.token;
    return token ? { authorization: `Bearer ${token}` } : {};
  },
};

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      headers: {
        accept: 'application/json',
        // Every write is JSON, bodiless ones (cancel, retry) included: the server refuses other writes.
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        ...auth.headers(),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `the server could not be reached (${(error as Error).message})`, null);
  }
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json ?? {}) as { code?: string; message?: string; data?: unknown };
    if (response.status === 401) for (const listener of authListeners) listener();
    throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, error.message ?? response.statusText, error.data);
  }
  return json as T;
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const api = {
  listRuns: (filter: { status?: string; workflow?: string; cursor?: string; limit?: number }) =>
    request<RunPage>(
      'GET',
      `/runs${query({ status: filter.status, workflow: filter.workflow, cursor: filter.cursor, limit: String(filter.limit ?? 25) })}`,
    ),
  getRun: (id: string) => request<Run>('GET', `/runs/${encodeURIComponent(id)}`),
  createRun: (body: { workflow: string; input: unknown; idempotencyKey?: string }) =>
    request<{ run: Run; created: boolean }>('POST', '/runs', body),
  cancelRun: (id: string) => request<Run>('POST', `/runs/${encodeURIComponent(id)}/cancel`),
  retryRun: (id: string) => request<Run>('POST', `/runs/${encodeURIComponent(id)}/retry`),
  sendSignal: (id: string, name: string, data: unknown) =>
    request<{ run: Run; delivered: boolean; seq: number | null }>(
      'POST',
      `/runs/${encodeURIComponent(id)}/signals/${encodeURIComponent(name)}`,
      { data },
    ),
  readToken: (id: string) => request<{ token: string; expiresAt: string }>('POST', `/runs/${encodeURIComponent(id)}/token`),
  workflows: () => request<Workflow[]>('GET', '/workflows'),
};

/** The run's SSE stream URL from `fromSeq`, with a freshly minted read token when the server requires auth. */
export async function runStreamUrl(id: string, fromSeq: number): Promise<string> {
  const params = new URLSearchParams({ fromSeq: String(Math.max(1, fromSeq)) });
  if (auth.token) params.set('token', (await api.readToken(id)).token);
  return `/api/runs/${encodeURIComponent(id)}/stream?${params}`;
}

export function isTerminal(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}
