import { RunCancelledError, RunFailedError } from '@runstream/domain';
import { createRunstreamClient, type RunstreamClient, type RunstreamClientOptions } from './client.js';
import { followRun } from './follow.js';
import type { Run, RunEvent, RunWithSteps } from './types.js';
import type { WorkflowCollection, WorkflowInput, WorkflowNamed, WorkflowOutput, WorkflowsIn } from './workflow-types.js';

export interface ClientFollowOptions {
  /** First seq to deliver (default 1): the last seq seen + 1 resumes. */
  fromSeq?: number;
  /** Aborting ends the iteration. */
  signal?: AbortSignal;
}

/** A run seen through the API: the same shape as the SDK's handle. */
export interface ClientRunHandle<O = unknown> {
  readonly id: string;
  readonly workflow: string;
  /** The run's events in seq order, gap-free across reconnects, until it ends. */
  follow(options?: ClientFollowOptions): AsyncIterable<RunEvent>;
  /** Waits for the end: the output, or RunFailedError / RunCancelledError. */
  result(options?: { signal?: AbortSignal }): Promise<O>;
  cancel(): Promise<Run>;
  get(): Promise<RunWithSteps>;
}

export interface TypedClient<C extends WorkflowCollection> {
  /** Starts a run of one of the app's workflows: the name and the input are checked at compile time. */
  start<N extends WorkflowsIn<C>['name']>(
    workflow: N,
    input: WorkflowInput<WorkflowNamed<C, N>>,
    options?: { idempotencyKey?: string },
  ): Promise<ClientRunHandle<WorkflowOutput<WorkflowNamed<C, N>>>>;
  /** A handle on an existing run. */
  run<O = unknown>(id: string, workflow?: string): ClientRunHandle<O>;
  /** The untyped oRPC client underneath (lists, retries, the feed, …). */
  readonly api: RunstreamClient;
}

/**
 * A client typed by the app's workflows module: `createClient<typeof workflows>({ url, token })`. Only types
 * come from the module (`import type`), so the caller needs none of the workflows' code at run time.
 */
export function createClient<C extends WorkflowCollection>(options: RunstreamClientOptions): TypedClient<C> {
  const api = createRunstreamClient(options);
  const handle = <O>(id: string, workflow: string): ClientRunHandle<O> => ({
    id,
    workflow,
    follow: (followOptions = {}) => followEvents(api, id, followOptions),
    async result(resultOptions = {}) {
      let run = await api.runs.get({ id }, { ...(resultOptions.signal ? { signal: resultOptions.signal } : {}) });
      if (!isFinished(run.status)) {
        await followRun(api, id, {
          fromSeq: run.lastSeq + 1,
          onEvent: () => {},
          ...(resultOptions.signal ? { signal: resultOptions.signal } : {}),
        });
        run = await api.runs.get({ id });
      }
      if (run.status === 'failed') throw new RunFailedError(id, run.error);
      if (run.status === 'cancelled') throw new RunCancelledError(id);
      return run.output as O;
    },
    cancel: () => api.runs.cancel({ id }),
    get: () => api.runs.get({ id }),
  });
  return {
    api,
    async start(workflow, input, startOptions = {}) {
      const { run } = await api.runs.create({
        workflow,
        input,
        ...(startOptions.idempotencyKey === undefined ? {} : { idempotencyKey: startOptions.idempotencyKey }),
      });
      return handle(run.id, run.workflow);
    },
    run: (id, workflow = '') => handle(id, workflow),
  };
}

function isFinished(status: Run['status']): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/**
 * `followRun` (callback-driven, reconnecting) as an async iterable: each event waits for the consumer to take
 * it before the next is read, and leaving the loop early ends the follow.
 */
async function* followEvents(api: RunstreamClient, id: string, options: ClientFollowOptions): AsyncGenerator<RunEvent> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  type Slot = { event: RunEvent; taken: () => void };
  const slots: Slot[] = [];
  let notify: (() => void) | null = null;
  let finished = false;
  let failure: unknown = null;

  const following = followRun(api, id, {
    ...(options.fromSeq === undefined ? {} : { fromSeq: options.fromSeq }),
    signal: stop.signal,
    onEvent: (event) =>
      new Promise<void>((taken) => {
        slots.push({ event, taken });
        notify?.();
      }),
  }).then(
    () => {
      finished = true;
      notify?.();
    },
    (error: unknown) => {
      if (!stop.signal.aborted) failure = error;
      finished = true;
      notify?.();
    },
  );

  let held: Slot | undefined;
  try {
    for (;;) {
      held = slots.shift();
      if (held) {
        yield held.event;
        held.taken();
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => (notify = resolve));
      notify = null;
    }
    if (failure) throw failure;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!finished) stop.abort();
    // A consumer that left mid-way holds an event: release it (and any queued) so the follow can see the abort.
    held?.taken();
    for (const slot of slots) slot.taken();
    await following;
  }
}
