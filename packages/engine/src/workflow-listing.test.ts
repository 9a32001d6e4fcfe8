import type { WorkflowVersion } from '@runstream/store';
import { describe, expect, it } from 'vitest';
import type { WorkflowInfo } from './registry.js';
import { mergeWorkflowListing } from './workflow-listing.js';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
const info = (name: string, version: string): WorkflowInfo => ({ name, version, inputSchema: { v: version }, concurrency: null, keyConcurrency: null });
const registered = (workflow: string, version: string, workers: string[], seen: number): WorkflowVersion => ({
  workflow,
  version,
  inputSchema: { v: version },
  options: { retries: null, concurrency: 3, keyConcurrency: null },
  firstSeenAt: at(0),
  lastSeenAt: at(seen),
  workers: workers.map((id) => ({ id, host: 'h' })),
});

describe('mergeWorkflowListing', () => {
  it('describes a workflow only workers have by the newest version a live worker serves, listing every version', () => {
    const [listing] = mergeWorkflowListing([], [registered('a', 'v2', [], 9), registered('a', 'v1', ['w1', 'w2'], 5)]);
    expect(listing).toMatchObject({ name: 'a', version: 'v1', local: false, concurrency: 3, inputSchema: { v: 'v1' } });
    expect(listing!.versions.map((version) => version.version)).toEqual(['v2', 'v1']);
    expect(listing!.workers.map((worker) => worker.id)).toEqual(['w1', 'w2']);
  });

  it('describes a local workflow by its own version, adding it unregistered when no worker runs it', () => {
    const listings = mergeWorkflowListing([info('b', 'mine'), info('a', 'v1')], [registered('a', 'v1', ['w1'], 1)]);
    expect(listings.map((listing) => listing.name)).toEqual(['a', 'b']);
    expect(listings[0]).toMatchObject({ local: true, version: 'v1', versions: [{ version: 'v1', workers: [{ id: 'w1' }] }] });
    expect(listings[1]).toMatchObject({
      local: true,
      version: 'mine',
      workers: [],
      versions: [{ version: 'mine', firstSeenAt: null, lastSeenAt: null, workers: [] }],
    });
  });
});
