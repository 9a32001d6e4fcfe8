export {
  createTestEngine,
  joinTestEngine,
  type PeerEngine,
  type TestEngine,
  type TestEngineOptions,
} from './test-engine.js';
export { gate, outline, startedBy, type Gate } from './facts.js';
export { oneStepWorkflow } from './one-step-workflow.js';
export { sleepWorkflow } from './sleep-workflow.js';
export { signalWorkflow } from './signal-workflow.js';
export { childWorkflow, parentWorkflow } from './child-workflows.js';
export { crashChunk, crashStepOutput, crashWorkflow } from './crash-workflow.js';
export {
  createWorkerProcesses,
  killWorkerProcess,
  startWorkerProcess,
  type WorkerProcess,
  type WorkerProcesses,
  type WorkerProcessOptions,
} from './worker-processes.js';
