export * from './errors.js';
export * from './validation.js';
export * from './events.js';
export * from './run-state.js';
export * from './clock.js';
export * from './notifications.js';
export * from './step-history.js';
