export { createTestDatabase, testBackends, type TestBackend, type TestDatabase } from './test-database.js';
export { waitForSeq, waitForEvent, waitForStatus, waitUntil, type WaitOptions, type FactSources, type ChangeSignals } from './wait-for.js';
export { testServices, databaseUrl } from './databases.js';
export { bundleForChild } from './child-bundle.js';
export { startFaultProxy, type FaultProxy } from './fault-proxy.js';
export { buildOnce, contentHash } from './shared-cache.js';
