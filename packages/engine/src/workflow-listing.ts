import type { WorkflowVersion, WorkflowWorker } from '@runstream/store';
import type { WorkflowInfo } from './registry.js';

export interface WorkflowVersionListing {
  version: string;
  inputSchema: unknown;
  /** Null for a version only this node has (no worker registered it). */
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  /** Alive instances serving this version. */
  workers: WorkflowWorker[];
}

/** A workflow as the deployment knows it: the current version's fields, every version, every live worker. */
export interface WorkflowListing extends WorkflowInfo {
  /** Whether this node has the workflow's code. */
  local: boolean;
  versions: WorkflowVersionListing[];
  /** Alive instances serving any version of it. */
  workers: WorkflowWorker[];
}

/**
 * Merges the workflows this node has with those workers registered. The top-level fields describe this node's
 * version when it has the code, else the newest registered version an alive worker serves (else the newest).
 */
export function mergeWorkflowListing(local: readonly WorkflowInfo[], registered: readonly WorkflowVersion[]): WorkflowListing[] {
  const names = [...new Set([...local.map((info) => info.name), ...registered.map((version) => version.workflow)])].sort();
  return names.map((name) => {
    const own = local.find((info) => info.name === name);
    const known = registered.filter((version) => version.workflow === name);
    const versions: WorkflowVersionListing[] = known.map(({ version, inputSchema, firstSeenAt, lastSeenAt, workers }) => ({
      version,
      inputSchema,
      firstSeenAt,
      lastSeenAt,
      workers,
    }));
    if (own && !known.some((version) => version.version === own.version)) {
      versions.unshift({ version: own.version, inputSchema: own.inputSchema, firstSeenAt: null, lastSeenAt: null, workers: [] });
    }
    const workers = new Map<string, WorkflowWorker>();
    for (const version of known) for (const worker of version.workers) workers.set(worker.id, worker);
    const current = known.find((version) => version.workers.length > 0) ?? known[0];
    const info: WorkflowInfo = own ?? {
      name,
      version: current!.version,
      inputSchema: current!.inputSchema,
      concurrency: current!.options.concurrency,
      keyConcurrency: current!.options.keyConcurrency,
    };
    return { ...info, local: own !== undefined, versions, workers: [...workers.values()] };
  });
}
