export { createTestDatabase, createTestRuntime, type TestDatabase, type TestRuntime } from './test-runtime.js';
export { waitForSeq, waitForEvent, waitForStatus, waitUntil, type WaitOptions } from './wait-for.js';
export { testServices, databaseUrl } from './databases.js';
export {
  createTestEngine,
  joinTestEngine,
  testBackends,
  type PeerEngine,
  type TestBackend,
  type TestEngine,
  type TestEngineOptions,
} from './test-engine.js';
