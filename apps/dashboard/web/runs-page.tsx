/**
 * The runs list (`/`) and the dead-letter view (`/failed`): one page of runs, newest first, with keyset paging
 * ("Load older runs" follows `nextCursor`), kept live by the cross-run feed: a created run that matches the
 * filter is inserted, a row whose status changes is updated in place (or leaves the list when it no longer
 * matches the filter, e.g. a retried run leaving the dead letters).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, runStatuses, type FeedEvent, type Run, type RunStatus, type Workflow } from './api.js';
import { compareRuns, matchesFilter, patchRun, type RunFilter } from './run-model.js';
import { followFeed, type LinkState } from './sse.js';
import { Link, LinkIndicator, navigate, RelativeTime, RunDuration, shortId, StatusBadge } from './ui.js';

const pageSize = 25;

interface ListState {
  runs: Run[];
  nextCursor: string | undefined;
  loading: boolean;
  loadingMore: boolean;
  error: string | null;
}

function useLiveRuns(filter: RunFilter) {
  const [state, setState] = useState<ListState>({ runs: [], nextCursor: undefined, loading: true, loadingMore: false, error: null });
  const [link, setLink] = useState<LinkState>('connecting');
  const stateRef = useRef(state);
  stateRef.current = state;
  const { status, workflow } = filter;

  useEffect(() => {
    let cancelled = false;
    let loaded = false;
    const buffered: FeedEvent[] = [];
    const fetching = new Map<string, FeedEvent[]>();
    const update = (change: (current: ListState) => ListState) =>
      setState((current) => {
        const next = change(current);
        stateRef.current = next;
        return next;
      });

    /** Inserts `run` in order, unless it is older than the oldest row while older pages remain unread. */
    const insert = (run: Run) =>
      update((current) => {
        if (!matchesFilter(run, { status, workflow }) || current.runs.some((row) => row.id === run.id)) return current;
        const oldest = current.runs[current.runs.length - 1];
        if (current.nextCursor && oldest && compareRuns(run, oldest) > 0) return current;
        return { ...current, runs: [...current.runs, run].sort(compareRuns) };
      });

    const apply = (event: FeedEvent) => {
      const row = stateRef.current.runs.find((run) => run.id === event.runId);
      if (row) {
        const patched = patchRun(row, event);
        if (!patched) return;
        update((current) => ({
          ...current,
          runs: matchesFilter(patched, { status, workflow })
            ? current.runs.map((run) => (run.id === patched.id ? patched : run))
            : current.runs.filter((run) => run.id !== patched.id),
        }));
        return;
      }
      // Events for a run being fetched wait for it: the fetch may have read the run before they committed.
      const waiting = fetching.get(event.runId);
      if (waiting) return void waiting.push(event);
      // A run we do not show: fetch it when it may now belong here (new, or newly in the filtered status).
      if (event.type !== 'run.created' && !status) return;
      fetching.set(event.runId, []);
      api
        .getRun(event.runId)
        .then((run) => {
          if (cancelled) return;
          for (const later of fetching.get(event.runId) ?? []) run = patchRun(run, later) ?? run;
          insert(run);
        })
        .catch(() => {})
        .finally(() => fetching.delete(event.runId));
    };

    const load = async () => {
      try {
        const page = await api.listRuns({ status, workflow, limit: pageSize });
        if (cancelled) return;
        update((current) => {
          // Keep rows the feed inserted while the page was loading.
          const byId = new Map(page.runs.map((run) => [run.id, run]));
          for (const run of current.runs) if (!byId.has(run.id) && matchesFilter(run, { status, workflow })) byId.set(run.id, run);
          return { ...current, runs: [...byId.values()].sort(compareRuns), nextCursor: page.nextCursor, loading: false, error: null };
        });
        loaded = true;
        for (const event of buffered.splice(0)) apply(event);
      } catch (error) {
        if (!cancelled) update((current) => ({ ...current, loading: false, error: (error as Error).message }));
      }
    };

    update(() => ({ runs: [], nextCursor: undefined, loading: true, loadingMore: false, error: null }));
    // Follow the feed first, then read the page: nothing that happens in between is missed.
    const stop = followFeed({
      onEvent(event) {
        if (loaded) apply(event);
        else buffered.push(event);
      },
      onState: setLink,
      // After a long disconnect the feed resumes from its cursor; re-reading the first page also refreshes rows
      // whose events were compacted away or that the feed does not carry.
      onResumed: () => void load(),
    });
    void load();
    return () => {
      cancelled = true;
      stop();
    };
  }, [status, workflow]);

  const loadMore = async () => {
    const cursor = stateRef.current.nextCursor;
    if (!cursor) return;
    setState((current) => ({ ...current, loadingMore: true }));
    try {
      const page = await api.listRuns({ status, workflow, cursor, limit: pageSize });
      setState((current) => {
        const known = new Set(current.runs.map((run) => run.id));
        return {
          ...current,
          runs: [...current.runs, ...page.runs.filter((run) => !known.has(run.id))],
          nextCursor: page.nextCursor,
          loadingMore: false,
        };
      });
    } catch (error) {
      setState((current) => ({ ...current, loadingMore: false, error: (error as Error).message }));
    }
  };

  return { state, setState, link, loadMore };
}

export function useWorkflows(): { workflows: Workflow[]; error: string | null } {
  const [workflows, setWorkflows] = useState<Workflow[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.workflows().then(setWorkflows, (e: Error) => setError(e.message));
  }, []);
  return { workflows, error };
}

export function RunsPage({ search }: { search: URLSearchParams }) {
  const status = (runStatuses as readonly string[]).includes(search.get('status') ?? '') ? (search.get('status') as RunStatus) : undefined;
  const workflow = search.get('workflow') || undefined;
  const { workflows } = useWorkflows();
  const { state, link, loadMore } = useLiveRuns({ status, workflow });

  const setFilter = (key: 'status' | 'workflow', value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    const query = next.toString();
    navigate(query ? `/?${query}` : '/', { replace: true });
  };

  return (
    <>
      <div class="page-head">
        <h1>Runs</h1>
        <LinkIndicator state={link} />
        <Link href="/new" class="button primary">
          Start a run
        </Link>
      </div>
      <form class="filters" aria-label="Filter runs" onSubmit={(event) => event.preventDefault()}>
        <label>
          Status
          <select name="status" value={status ?? ''} onChange={(event) => setFilter('status', event.currentTarget.value)}>
            <option value="">Any status</option>
            {runStatuses.map((value) => (
              <option value={value}>{value[0]!.toUpperCase() + value.slice(1)}</option>
            ))}
          </select>
        </label>
        <label>
          Workflow
          <select name="workflow" value={workflow ?? ''} onChange={(event) => setFilter('workflow', event.currentTarget.value)}>
            <option value="">Any workflow</option>
            {workflow && !workflows.some((w) => w.name === workflow) ? <option value={workflow}>{workflow}</option> : null}
            {workflows.map((w) => (
              <option value={w.name}>{w.name}</option>
            ))}
          </select>
        </label>
      </form>
      {state.error ? (
        <p class="notice error" role="alert">
          Could not load runs: {state.error}
        </p>
      ) : null}
      <div class="table-wrap">
        <table class="runs" aria-busy={state.loading}>
          <caption class="visually-hidden">Runs, newest first{status ? `, status ${status}` : ''}{workflow ? `, workflow ${workflow}` : ''}</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {state.runs.map((run) => (
              <tr key={run.id} data-run-id={run.id} data-status={run.status}>
                <td data-label="Run">
                  <Link href={`/runs/${run.id}`} class="mono" aria-label={`Run ${run.id}`}>
                    {shortId(run.id)}
                  </Link>
                </td>
                <td data-label="Workflow">{run.workflow}</td>
                <td data-label="Status">
                  <StatusBadge status={run.status === 'running' && run.cancelRequested ? 'cancelling' : run.status} />
                </td>
                <td data-label="Created">
                  <RelativeTime iso={run.createdAt} />
                </td>
                <td data-label="Duration">
                  <RunDuration startedAt={run.startedAt} finishedAt={run.finishedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!state.loading && state.runs.length === 0 ? (
          <p class="empty">
            No runs {status || workflow ? 'match these filters' : 'yet'}. <Link href="/new">Start one</Link>.
          </p>
        ) : null}
        {state.loading ? <p class="empty">Loading runs…</p> : null}
      </div>
      {state.nextCursor ? (
        <button type="button" class="button more" onClick={loadMore} disabled={state.loadingMore}>
          {state.loadingMore ? 'Loading…' : 'Load older runs'}
        </button>
      ) : null}
    </>
  );
}

/** Failed runs with their last error and a retry action: the dead letters. */
export function DeadLettersPage() {
  const { state, setState, link, loadMore } = useLiveRuns({ status: 'failed' });
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const retry = async (run: Run) => {
    setBusy(run.id);
    setMessage(null);
    try {
      await api.retryRun(run.id);
      setState((current) => ({ ...current, runs: current.runs.filter((row) => row.id !== run.id) }));
      setMessage({ kind: 'ok', text: `Run ${shortId(run.id)} was sent back to the queue.` });
    } catch (error) {
      setMessage({ kind: 'error', text: error instanceof ApiError ? `Could not retry ${shortId(run.id)}: ${error.message}` : String(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <div class="page-head">
        <h1>Dead letters</h1>
        <LinkIndicator state={link} />
      </div>
      <p class="lede">Runs that failed after their retries ran out. Retrying one re-queues it from its failed step; completed steps keep their output.</p>
      <div aria-live="polite">{message ? <p class={`notice ${message.kind}`}>{message.text}</p> : null}</div>
      {state.error ? (
        <p class="notice error" role="alert">
          Could not load failed runs: {state.error}
        </p>
      ) : null}
      <div class="table-wrap">
        <table class="runs dead">
          <caption class="visually-hidden">Failed runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Failed</th>
              <th scope="col">Last error</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {state.runs.map((run) => (
              <tr key={run.id} data-run-id={run.id}>
                <td data-label="Run">
                  <Link href={`/runs/${run.id}`} class="mono" aria-label={`Run ${run.id}`}>
                    {shortId(run.id)}
                  </Link>
                </td>
                <td data-label="Workflow">{run.workflow}</td>
                <td data-label="Failed">{run.finishedAt ? <RelativeTime iso={run.finishedAt} /> : '—'}</td>
                <td data-label="Last error" class="error-cell">
                  {run.error ? (
                    <>
                      <strong>{run.error.name}</strong>: {run.error.message}
                    </>
                  ) : (
                    <span class="muted">no error recorded</span>
                  )}
                </td>
                <td>
                  <button type="button" class="button" onClick={() => retry(run)} disabled={busy === run.id} aria-label={`Retry run ${shortId(run.id)}`}>
                    {busy === run.id ? 'Retrying…' : 'Retry'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!state.loading && state.runs.length === 0 ? <p class="empty">No failed runs. Nothing to retry.</p> : null}
        {state.loading ? <p class="empty">Loading failed runs…</p> : null}
      </div>
      {state.nextCursor ? (
        <button type="button" class="button more" onClick={loadMore} disabled={state.loadingMore}>
          {state.loadingMore ? 'Loading…' : 'Load older failed runs'}
        </button>
      ) : null}
    </>
  );
}
