/**
 * The form a run page shows while the run waits for a signal (a human approval, say): JSON data checked against
 * the wait's JSON Schema as you type, sent with `POST /api/runs/{id}/signals/{name}`. The server stays the
 * authority: a BAD_REQUEST it answers is shown by the field it names.
 */
import { useMemo, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import { exampleInput, parseJson, validateInput } from './validate.js';

export function SignalForm({ runId, waiting }: { runId: string; waiting: { signal: string; schema?: unknown } }) {
  const [text, setText] = useState(() => JSON.stringify(exampleInput(waiting.schema ?? { type: 'null' }), null, 2));
  const [state, setState] = useState<{ busy: boolean; error: string | null; sent: boolean }>({ busy: false, error: null, sent: false });
  const parsed = useMemo(() => parseJson(text), [text]);
  const issues = useMemo(() => (parsed.ok && waiting.schema ? validateInput(waiting.schema, parsed.value ?? null) : []), [parsed, waiting.schema]);
  const invalid = !parsed.ok || issues.length > 0;

  const send = async (event: Event) => {
    event.preventDefault();
    if (!parsed.ok) return;
    setState({ busy: true, error: null, sent: false });
    try {
      await api.sendSignal(runId, waiting.signal, parsed.value ?? null);
      setState({ busy: false, error: null, sent: true });
    } catch (error) {
      const refusal = error instanceof ApiError ? error.issues : null;
      const message = error instanceof ApiError ? error.message : String(error);
      setState({ busy: false, error: refusal ? `${refusal.field}: ${message}` : message, sent: false });
    }
  };

  return (
    <section class="panel signal-form" aria-labelledby="signal-title">
      <h2 id="signal-title">Waiting for {waiting.signal}</h2>
      <form onSubmit={send}>
        <label for="signal-data">Signal data (JSON)</label>
        <textarea
          id="signal-data"
          class="mono"
          rows={5}
          value={text}
          onInput={(event) => setText((event.target as HTMLTextAreaElement).value)}
          aria-invalid={invalid}
        />
        {!parsed.ok || issues.length > 0 ? (
          <ul class="field-errors" data-origin="client">
            {!parsed.ok ? <li>{parsed.syntax}</li> : null}
            {issues.map((issue) => (
              <li key={`${issue.path}:${issue.message}`}>
                <code>{issue.path || 'data'}</code> {issue.message}
              </li>
            ))}
          </ul>
        ) : null}
        <button type="submit" class="button primary" disabled={invalid || state.busy}>
          {state.busy ? 'Sending…' : `Send ${waiting.signal}`}
        </button>
        {state.sent ? <p class="notice ok">Signal sent.</p> : null}
        {state.error ? (
          <p class="notice error" role="alert">
            {state.error}
          </p>
        ) : null}
      </form>
    </section>
  );
}
