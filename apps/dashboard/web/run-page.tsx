/**
 * A run (`/runs/{id}`): its facts, actions, steps (with streamed text growing in place) and the live timeline of
 * its events. Everything below the header is folded from the event stream in the page (run-model.ts), read from
 * seq 1, so a reload shows the same timeline and a reconnect continues it without duplicating a line.
 */
import { useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { api, ApiError, auth, isTerminal, type Run, type RunEvent } from './api.js';
import { applyRunEvent, describeEvent, emptyRunModel, formatDuration, stepText, type RunModel, type StepView } from './run-model.js';
import { followRunStream, type LinkState } from './sse.js';
import { JsonBlock, Link, LinkIndicator, RunDuration, StatusBadge, useNow } from './ui.js';
import { SignalForm } from './signal-form.js';

/** Re-renders at most once per animation frame, however fast events arrive (a backlog replays in one burst). */
function useFrameRender(): () => void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const pending = useRef(false);
  return useMemo(
    () => () => {
      if (pending.current) return;
      pending.current = true;
      requestAnimationFrame(() => {
        pending.current = false;
        bump(undefined);
      });
    },
    [],
  );
}

/** Mounted once per run id (the router keys it), so its state never mixes two runs. */
export function RunPage({ id }: { id: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [link, setLink] = useState<{ state: LinkState; detail?: string | undefined }>({ state: 'connecting' });
  const [follow, refollow] = useReducer((n: number) => n + 1, 0);
  const [action, setAction] = useState<{ busy: 'cancel' | 'retry' | null; error: string | null }>({ busy: null, error: null });
  const [rawToken, setRawToken] = useState<string | null>(null);
  const model = useRef<RunModel>(emptyRunModel());
  const render = useFrameRender();

  useEffect(() => {
    let cancelled = false;
    api.getRun(id).then(
      (loaded) => !cancelled && setRun(loaded),
      (error: ApiError) => !cancelled && setLoadError(error),
    );
    if (auth.token) api.readToken(id).then((minted) => !cancelled && setRawToken(minted.token), () => {});
    return () => {
      cancelled = true;
    };
  }, [id]);

  useEffect(() => {
    return followRunStream(id, {
      nextSeq: () => model.current.lastSeq + 1,
      onEvent(event) {
        const verdict = applyRunEvent(model.current, event);
        if (verdict === 'applied') render();
        return verdict;
      },
      onDone() {
        // The projection has the final output and error; refresh the header from it.
        api.getRun(id).then(setRun, () => {});
      },
      onState: (state, detail) => setLink({ state, detail }),
    });
  }, [id, follow, render]);

  if (loadError) {
    return (
      <section class="not-found">
        <h1>{loadError.status === 404 ? 'Run not found' : 'Could not load this run'}</h1>
        <p>{loadError.status === 404 ? `There is no run with id ${id}.` : loadError.message}</p>
        <p>
          <Link href="/">Back to all runs</Link>
        </p>
      </section>
    );
  }

  const m = model.current;
  // While the stream replays the backlog the fetched run is the fresher view of the run as a whole; once the
  // page has folded every event the run had when fetched, the stream is (it keeps moving).
  const fresh = run && m.lastSeq < run.lastSeq ? run : null;
  const status = fresh?.status ?? m.status ?? run?.status ?? 'queued';
  const cancelRequested = fresh ? fresh.cancelRequested : m.cancelRequested || (run?.cancelRequested ?? false);
  const startedAt = (fresh ? fresh.startedAt : m.startedAt) ?? run?.startedAt ?? null;
  const finishedAt = isTerminal(status) ? ((fresh ? fresh.finishedAt : m.finishedAt) ?? run?.finishedAt ?? null) : null;
  const error = status === 'failed' ? ((fresh ? fresh.error : m.error) ?? run?.error ?? null) : null;
  const output = status === 'succeeded' ? (fresh ? fresh.output : (m.output ?? run?.output)) : undefined;
  const canCancel = (status === 'queued' || status === 'running') && !cancelRequested;
  const canRetry = status === 'failed';
  const waiting = status === 'running' ? (fresh ? fresh.waiting : m.waiting) : null;

  const act = async (kind: 'cancel' | 'retry') => {
    setAction({ busy: kind, error: null });
    try {
      const updated = kind === 'cancel' ? await api.cancelRun(id) : await api.retryRun(id);
      setRun(updated);
      setAction({ busy: null, error: null });
      // A retried run streams again: follow it from where the page is (the previous stream ended with `done`).
      if (kind === 'retry') refollow(undefined);
    } catch (e) {
      setAction({ busy: null, error: e instanceof ApiError ? e.message : String(e) });
    }
  };

  const streamHref = `/api/runs/${id}/stream${rawToken ? `?token=${encodeURIComponent(rawToken)}` : ''}`;
  const eventsHref = `/api/runs/${id}/events${rawToken ? `?token=${encodeURIComponent(rawToken)}` : ''}`;
  const steps = [...m.steps.values()];

  return (
    <article class="run" data-run-id={id} data-status={status} aria-labelledby="run-title">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Runs</Link> <span aria-hidden="true">/</span> <span class="mono">{id}</span>
      </nav>
      <header class="run-head">
        <div class="run-title">
          <h1 id="run-title">{run?.workflow ?? (m.events[0]?.data as { workflow?: string } | undefined)?.workflow ?? 'Run'}</h1>
          <span aria-live="polite" class="run-status">
            <StatusBadge status={status === 'running' && cancelRequested ? 'cancelling' : status} />
            {waiting ? <span class="waiting-for"> waiting for {waiting.signal}</span> : null}
          </span>
          <LinkIndicator state={link.state} detail={link.detail} />
        </div>
        <dl class="facts">
          <div>
            <dt>Run id</dt>
            <dd class="mono">{id}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{run ? new Date(run.createdAt).toLocaleString() : '—'}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>
              <RunDuration startedAt={startedAt} finishedAt={finishedAt} />
            </dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>{m.events.filter((event) => event.type === 'run.started').length || (run?.attempts ?? 0)}</dd>
          </div>
          {run?.workflowVersion ? (
            <div>
              <dt>Version</dt>
              <dd class="mono">{run.workflowVersion.slice(0, 12)}</dd>
            </div>
          ) : null}
          {run?.idempotencyKey ? (
            <div>
              <dt>Idempotency key</dt>
              <dd class="mono">{run.idempotencyKey}</dd>
            </div>
          ) : null}
        </dl>
        <div class="actions">
          <button
            type="button"
            class="button danger"
            onClick={() => act('cancel')}
            disabled={!canCancel || action.busy !== null}
            title={canCancel ? 'Stop this run' : 'Only a queued or running run can be cancelled'}
          >
            {action.busy === 'cancel' ? 'Cancelling…' : cancelRequested && status === 'running' ? 'Cancel requested' : 'Cancel run'}
          </button>
          <button
            type="button"
            class="button"
            onClick={() => act('retry')}
            disabled={!canRetry || action.busy !== null}
            title={canRetry ? 'Re-queue this run from its failed step' : 'Only a failed run can be retried'}
          >
            {action.busy === 'retry' ? 'Retrying…' : 'Retry run'}
          </button>
          <a class="button subtle" href={streamHref} target="_blank" rel="noopener">
            Raw event stream
          </a>
          <a class="button subtle" href={eventsHref} target="_blank" rel="noopener">
            Events (JSON)
          </a>
        </div>
        <div aria-live="assertive">
          {action.error ? (
            <p class="notice error" role="alert">
              {action.error}
            </p>
          ) : null}
        </div>
        {link.state === 'failed' ? (
          <p class="notice error" role="alert">
            The event stream stopped: {link.detail}
          </p>
        ) : null}
      </header>

      {waiting ? <SignalForm runId={id} waiting={waiting} /> : null}

      {error ? (
        <section class="panel run-error" aria-labelledby="error-title">
          <h2 id="error-title">Error</h2>
          <p>
            <strong>{error.name}</strong>: {error.message}
          </p>
        </section>
      ) : null}

      <div class="run-grid">
        <section class="panel" aria-labelledby="steps-title">
          <h2 id="steps-title">
            Steps <span class="count">{steps.length}</span>
          </h2>
          {steps.length === 0 ? <p class="muted">{isTerminal(status) ? 'This run ran no steps.' : 'No step has started yet.'}</p> : null}
          <ol class="steps">
            {steps.map((step) => (
              <StepCard key={step.name} step={step} />
            ))}
          </ol>
          {output !== undefined ? (
            <div class="result">
              <h3>Output</h3>
              <JsonBlock value={output} label="Run output" />
            </div>
          ) : null}
          {m.emitted.length > 0 ? (
            <details class="result">
              <summary>Emitted output ({m.emitted.length})</summary>
              <JsonBlock value={m.emitted} label="Emitted output" />
            </details>
          ) : null}
          {run ? (
            <details class="result">
              <summary>Input</summary>
              <JsonBlock value={run.input} label="Run input" />
            </details>
          ) : null}
        </section>
        <section class="panel" aria-labelledby="timeline-title">
          <h2 id="timeline-title">
            Timeline <span class="count" data-testid="event-count">{m.events.length}</span>
          </h2>
          <Timeline events={m.events} />
        </section>
      </div>
    </article>
  );
}

function StepCard({ step }: { step: StepView }) {
  const live = step.status === 'running';
  const now = useNow(250, live);
  const durationMs = step.durationMs + (live ? now - new Date(step.attemptStartedAt).getTime() : 0);
  const text = stepText(step);
  return (
    <li class="step" data-step={step.name} data-status={step.status}>
      <div class="step-head">
        <h3>{step.name}</h3>
        <StatusBadge status={step.status} />
        <span class="step-meta">
          {step.attempt > 1 ? `attempt ${step.attempt} · ` : ''}
          {formatDuration(durationMs)}
        </span>
      </div>
      {step.chunks.length > 0 ? (
        <pre class={`stream${live ? ' streaming' : ''}`} data-attempt={step.attempt} aria-label={`Streamed output of ${step.name}`}>
          {text}
        </pre>
      ) : null}
      {step.error ? (
        <p class="step-error">
          <strong>{step.error.name}</strong>: {step.error.message}
          {step.retryAt ? <> — retrying at {new Date(step.retryAt).toLocaleTimeString()}</> : null}
        </p>
      ) : null}
      {step.status === 'completed' && step.output !== null && step.output !== undefined && step.chunks.length === 0 ? (
        <JsonBlock value={step.output} label={`Output of ${step.name}`} />
      ) : null}
    </li>
  );
}

/** The event log as it streams in; stays scrolled to the newest line while the reader is at the bottom. */
function Timeline({ events }: { events: RunEvent[] }) {
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const start = events[0] ? new Date(events[0].createdAt).getTime() : 0;
  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  // A window resized (a phone turned, a narrower layout) keeps a reader at the bottom there.
  useEffect(() => {
    const keep = () => {
      const el = list.current;
      if (el && stick.current) el.scrollTop = el.scrollHeight;
    };
    addEventListener('resize', keep);
    return () => removeEventListener('resize', keep);
  }, []);
  const onScroll = () => {
    const el = list.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };
  if (events.length === 0) return <p class="muted">Waiting for events…</p>;
  return (
    <ol class="timeline" ref={list} onScroll={onScroll} tabIndex={0} aria-label="Run events in order">
      {events.map((event) => (
        <li key={event.seq} data-seq={event.seq} data-type={event.type} class={`ev ev-${event.type.replace('.', '-')}`}>
          <span class="ev-seq">#{event.seq}</span>
          <time class="ev-time" dateTime={event.createdAt} title={new Date(event.createdAt).toLocaleString()}>
            +{formatDuration(new Date(event.createdAt).getTime() - start)}
          </time>
          <span class="ev-type">{event.type}</span>
          <span class="ev-desc">{describeEvent(event)}</span>
        </li>
      ))}
    </ol>
  );
}
