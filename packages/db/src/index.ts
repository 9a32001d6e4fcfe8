export * as schema from './schema.js';
export { runs, runEvents, outbox, instances, schedules, workflowVersions, workflowInstances, type RunRow, type RunEventRow, type OutboxRow, type InstanceRow, type ScheduleRow, type WorkflowVersionRow } from './schema.js';
export { connectDatabase, pgErrorCode, pgErrorConstraint, type Database, type DatabaseHandle } from './database.js';
export { migrateDatabase, migrationsFolder } from './migrate.js';
export { uuidv7 } from './ids.js';
export { sqlArray } from './sql-array.js';
