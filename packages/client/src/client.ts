import { createORPCClient } from '@orpc/client';
import { RPCLink } from '@orpc/client/fetch';
import type { ContractRouterClient } from '@orpc/contract';
import type { Contract } from '@runstream/contract';

export interface RunstreamClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:7420`; the RPC transport is served at `${url}/rpc`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` on every call. */
  token?: string;
  /** A fetch implementation to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
}

/** The typed oRPC client of the Runstream contract: `client.runs.create(...)`, `client.runs.stream(...)`, … */
export type RunstreamClient = ContractRouterClient<Contract>;

export function createRunstreamClient({ url, token, fetch }: RunstreamClientOptions): RunstreamClient {
  const link = new RPCLink({
    url: `${url.replace(/\/+$/, '')}/rpc`,
    ...(token ? { headers: () => ({ authorization: `Bearer ${token}` }) } : {}),
    ...(fetch ? { fetch: (request: Request, init: RequestInit) => fetch(request, init) } : {}),
  });
  return createORPCClient(link);
}
