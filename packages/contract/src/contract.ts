import { eventIterator, oc } from '@orpc/contract';
import { z } from 'zod';
import {
  feedEventSchema,
  healthSchema,
  inputs,
  instanceSchema,
  runEventSchema,
  runSchema,
  scheduleSchema,
  stepSchema,
  streamEndSchema,
  workflowSchema,
} from './schemas.js';

/** Field-level detail of a BAD_REQUEST: which field is wrong and why. */
export const badRequestData = z.object({
  field: z.string(),
  issues: z.array(z.object({ field: z.string(), message: z.string() })),
});

const base = oc.errors({
  UNAUTHORIZED: { status: 401, message: 'a valid bearer token is required' },
  FORBIDDEN: { status: 403, message: 'this token does not grant access to that' },
  BAD_REQUEST: { status: 400, data: badRequestData },
});

const runErrors = {
  NOT_FOUND: { status: 404, data: z.object({ id: z.string() }) },
  CONFLICT: { status: 409, data: z.object({ id: z.string(), status: z.string() }) },
};

const scheduleErrors = {
  NOT_FOUND: { status: 404, data: z.object({ id: z.string() }) },
};

/**
 * The Runstream API, contract first: the server implements it, the typed client and the OpenAPI document are
 * derived from it. REST routes live under `/api`, the RPC transport under `/rpc`.
 */
export const contract = {
  runs: {
    create: base
      .route({
        method: 'POST',
        path: '/runs',
        successStatus: 201,
        summary: 'Start a run (idempotent with a key)',
        description:
          '201 with `created: true` when the run was started; 200 with `created: false` and the same run when the ' +
          'idempotency key already started one with the same workflow and input; 409 `IDEMPOTENCY_KEY_REUSED` when it ' +
          'started one with another workflow or input; 404 `UNKNOWN_WORKFLOW` when neither the answering node nor any ' +
          'registered worker has the workflow. A registered workflow no live worker serves is accepted: the run\'s ' +
          '`waitingReason` says it waits for a worker.',
      })
      .errors({
        UNKNOWN_WORKFLOW: {
          status: 404,
          message: 'no worker registered this workflow and the answering node does not have it',
          data: z.object({ workflow: z.string(), field: z.literal('workflow') }),
        },
        IDEMPOTENCY_KEY_REUSED: {
          status: 409,
          message: 'this idempotency key already started a run with a different workflow or input',
          data: z.object({ id: z.string(), field: z.literal('idempotencyKey') }),
        },
      })
      .input(inputs.createRun)
      .output(z.object({ run: runSchema, created: z.boolean() })),
    list: base
      .route({ method: 'GET', path: '/runs', summary: 'List runs, newest first, with keyset paging' })
      .input(inputs.listRuns)
      .output(z.object({ runs: z.array(runSchema), nextCursor: z.string().optional() })),
    get: base
      .route({ method: 'GET', path: '/runs/{id}', summary: 'A run with its steps' })
      .errors(runErrors)
      .input(inputs.runById)
      .output(runSchema.extend({ steps: z.array(stepSchema) })),
    cancel: base
      .route({ method: 'POST', path: '/runs/{id}/cancel', summary: 'Cancel a run (harmless if already cancelled)' })
      .errors(runErrors)
      .input(inputs.runById)
      .output(runSchema),
    retry: base
      .route({ method: 'POST', path: '/runs/{id}/retry', summary: 'Re-queue a failed run from its failed step' })
      .errors(runErrors)
      .input(inputs.runById)
      .output(runSchema),
    children: base
      .route({ method: 'GET', path: '/runs/{id}/children', summary: 'The runs this run started, newest first' })
      .errors(runErrors)
      .input(inputs.listChildren)
      .output(z.object({ runs: z.array(runSchema), nextCursor: z.string().optional() })),
    signal: base
      .route({
        method: 'POST',
        path: '/runs/{id}/signals/{name}',
        summary: 'Send a signal to a run (exactly-once with a key)',
        description:
          'The signal is recorded as a `signal.received` event and kept until a wait of that name takes it, oldest ' +
          'first. While the run waits for it, `data` must match the schema of the wait (400 naming the field). ' +
          '`delivered: false` when the idempotency key had already delivered it (nothing changed). 409 when the run ' +
          'has finished.',
      })
      .errors(runErrors)
      .input(inputs.sendSignal)
      .output(z.object({ run: runSchema, delivered: z.boolean(), seq: z.number().int().nullable() })),
    events: base
      .route({ method: 'GET', path: '/runs/{id}/events', summary: 'A page of the run’s events from a seq' })
      .errors(runErrors)
      .input(inputs.readEvents)
      .output(z.object({ events: z.array(runEventSchema), nextSeq: z.number().int().optional() })),
    stream: base
      .route({
        method: 'GET',
        path: '/runs/{id}/stream',
        summary: 'Server-Sent Events: the run’s backlog from a seq, then live events, then `done`',
      })
      .errors(runErrors)
      .input(inputs.streamRun)
      .output(eventIterator(runEventSchema, streamEndSchema)),
    token: base
      .route({ method: 'POST', path: '/runs/{id}/token', summary: 'Mint a short-lived read token for one run' })
      .errors(runErrors)
      .input(inputs.runById)
      .output(z.object({ token: z.string(), expiresAt: z.date() })),
  },
  feed: {
    stream: base
      .route({ method: 'GET', path: '/feed/stream', summary: 'Server-Sent Events: run lifecycle events across runs' })
      .input(inputs.streamFeed)
      .output(eventIterator(feedEventSchema)),
  },
  workflows: {
    list: base
      .route({
        method: 'GET',
        path: '/workflows',
        summary: 'Workflows: the answering node’s and those workers registered, with versions and live workers',
      })
      .output(z.array(workflowSchema)),
  },
  schedules: {
    create: base
      .route({
        method: 'POST',
        path: '/schedules',
        successStatus: 201,
        summary: 'Create a cron schedule',
        description:
          'Each tick starts one run (idempotency key `schedule:<id>:<tick ISO>`, so any number of nodes start it once). ' +
          'A bad `cron` or `timezone` is a 400 naming it; an existing id is 409 `SCHEDULE_EXISTS`.',
      })
      .errors({
        SCHEDULE_EXISTS: {
          status: 409,
          message: 'a schedule with this id exists already',
          data: z.object({ id: z.string(), field: z.literal('id') }),
        },
      })
      .input(inputs.createSchedule)
      .output(scheduleSchema),
    list: base
      .route({ method: 'GET', path: '/schedules', summary: 'Every schedule, by id, with its next 5 fire times' })
      .output(z.array(scheduleSchema)),
    get: base
      .route({ method: 'GET', path: '/schedules/{id}', summary: 'A schedule with its next 5 fire times' })
      .errors(scheduleErrors)
      .input(inputs.scheduleById)
      .output(scheduleSchema),
    pause: base
      .route({ method: 'POST', path: '/schedules/{id}/pause', summary: 'Stop starting runs until resumed' })
      .errors(scheduleErrors)
      .input(inputs.scheduleById)
      .output(scheduleSchema),
    resume: base
      .route({
        method: 'POST',
        path: '/schedules/{id}/resume',
        summary: 'Start runs again from the next tick (ticks passed while paused are not started)',
      })
      .errors(scheduleErrors)
      .input(inputs.scheduleById)
      .output(scheduleSchema),
    delete: base
      .route({ method: 'DELETE', path: '/schedules/{id}', summary: 'Delete a schedule (the runs it started stay)' })
      .errors(scheduleErrors)
      .input(inputs.scheduleById)
      .output(z.object({ id: z.string(), deleted: z.literal(true) })),
  },
  instances: {
    list: base
      .route({ method: 'GET', path: '/instances', summary: 'Worker instances and their load' })
      .output(z.array(instanceSchema)),
  },
  health: base.route({ method: 'GET', path: '/health', summary: 'PostgreSQL and queue reachability' }).output(healthSchema),
};

export type Contract = typeof contract;
