export { createRuntime, appendChannel, type Runtime, type RuntimeConfig } from './runtime.js';
