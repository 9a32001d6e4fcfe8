export { createRuntime, type Runtime, type RuntimeConfig } from './runtime.js';
