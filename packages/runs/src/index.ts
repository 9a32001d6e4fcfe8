export { createRunRepository } from './run-repository.js';
export type { Run, RunRepository, RunRepositoryConfig, CreateRunInput, ListRunsFilter, RunPage } from './run-repository.js';
