/**
 * Start a run (`/new`): pick a registered workflow, edit its JSON input. The input is checked against the
 * workflow's JSON Schema as you type (validate.ts) and the errors are shown next to it; submitting with errors
 * is refused in the page. The server is still the authority: its BAD_REQUEST is shown by the field it names.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, type FieldIssue, type Workflow } from './api.js';
import { useWorkflows } from './runs-page.js';
import { Link, navigate } from './ui.js';
import { exampleInput, parseJson, validateInput, type InputIssue } from './validate.js';

interface ServerRefusal {
  message: string;
  field: string | null;
  issues: FieldIssue[];
}

export function StartPage({ search }: { search: URLSearchParams }) {
  const { workflows, error: loadError } = useWorkflows();
  const [name, setName] = useState(search.get('workflow') ?? '');
  const [text, setText] = useState('');
  const [key, setKey] = useState('');
  const [touched, setTouched] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [refusal, setRefusal] = useState<ServerRefusal | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);

  const workflow: Workflow | undefined = workflows.find((w) => w.name === name) ?? workflows[0];

  // A new workflow starts from an example of its input.
  useEffect(() => {
    if (!workflow) return;
    if (name !== workflow.name) setName(workflow.name);
    setText(JSON.stringify(exampleInput(workflow.inputSchema), null, 2));
    setTouched(false);
    setRefusal(null);
  }, [workflow?.name]);

  const parsed = useMemo(() => parseJson(text), [text]);
  const issues: InputIssue[] = useMemo(
    () => (workflow && parsed.ok ? validateInput(workflow.inputSchema, parsed.value) : []),
    [workflow, parsed],
  );
  const inputInvalid = !parsed.ok || issues.length > 0;
  const showErrors = touched || text !== JSON.stringify(exampleInput(workflow?.inputSchema), null, 2);

  const serverIssuesFor = (prefix: string) =>
    refusal && refusal.field !== null && (refusal.field === prefix || refusal.field.startsWith(`${prefix}.`) || refusal.field.startsWith(`${prefix}[`))
      ? refusal.issues.length > 0
        ? refusal.issues
        : [{ field: refusal.field, message: refusal.message }]
      : [];
  const inputRefusal = serverIssuesFor('input');
  const keyRefusal = serverIssuesFor('idempotencyKey');
  const workflowRefusal = serverIssuesFor('workflow');
  const otherRefusal = refusal && inputRefusal.length + keyRefusal.length + workflowRefusal.length === 0 ? refusal : null;

  const submit = async (event: Event) => {
    event.preventDefault();
    setTouched(true);
    setRefusal(null);
    if (!workflow) return;
    if (inputInvalid) {
      inputRef.current?.focus();
      return;
    }
    setSubmitting(true);
    try {
      const { run } = await api.createRun({
        workflow: workflow.name,
        input: parsed.ok ? parsed.value : undefined,
        ...(key.trim() ? { idempotencyKey: key.trim() } : {}),
      });
      navigate(`/runs/${run.id}`);
    } catch (error) {
      const detail = error instanceof ApiError ? error.issues : null;
      setRefusal({
        message: error instanceof Error ? error.message : String(error),
        field: detail?.field ?? null,
        issues: detail?.issues ?? [],
      });
      setSubmitting(false);
    }
  };

  return (
    <>
      <div class="page-head">
        <h1>Start a run</h1>
      </div>
      {loadError ? (
        <p class="notice error" role="alert">
          Could not load the workflows: {loadError}
        </p>
      ) : null}
      <form class="start panel" onSubmit={submit} noValidate aria-describedby={otherRefusal ? 'server-refusal' : undefined}>
        <div class="field">
          <label for="workflow">Workflow</label>
          <select id="workflow" name="workflow" value={workflow?.name ?? ''} onChange={(e) => setName(e.currentTarget.value)} required>
            {workflows.map((w) => (
              <option value={w.name}>{w.name}</option>
            ))}
          </select>
          {workflow ? (
            <p class="hint">
              version <span class="mono">{workflow.version.slice(0, 12)}</span>
              {workflow.concurrency !== null ? ` · at most ${workflow.concurrency} at once` : ''}
            </p>
          ) : null}
          <FieldErrors id="workflow-errors" issues={workflowRefusal.map((issue) => ({ path: '', message: issue.message }))} origin="server" />
        </div>

        <div class="field">
          <label for="input">Input (JSON)</label>
          <textarea
            id="input"
            name="input"
            ref={inputRef}
            value={text}
            disabled={!workflow}
            rows={Math.min(16, Math.max(5, text.split('\n').length + 1))}
            spellcheck={false}
            autoComplete="off"
            aria-invalid={(showErrors && inputInvalid) || inputRefusal.length > 0}
            aria-describedby="input-errors input-server-errors"
            onInput={(e) => {
              setText(e.currentTarget.value);
              setRefusal(null);
            }}
            onBlur={() => setTouched(true)}
          />
          <div id="input-errors" aria-live="polite">
            {showErrors && !parsed.ok ? (
              <ul class="field-errors" data-origin="client">
                <li>Not valid JSON: {parsed.syntax}</li>
              </ul>
            ) : null}
            {showErrors && parsed.ok ? <FieldErrors issues={issues} origin="client" /> : null}
          </div>
          <FieldErrors id="input-server-errors" issues={inputRefusal.map((issue) => ({ path: issue.field, message: issue.message }))} origin="server" />
          {workflow ? (
            <details class="schema">
              <summary>Input schema</summary>
              <pre class="json">{JSON.stringify(workflow.inputSchema, null, 2)}</pre>
            </details>
          ) : null}
        </div>

        <div class="field">
          <label for="idempotency-key">
            Idempotency key <span class="muted">(optional)</span>
          </label>
          <input
            id="idempotency-key"
            name="idempotencyKey"
            value={key}
            autoComplete="off"
            aria-invalid={keyRefusal.length > 0}
            aria-describedby="key-hint key-errors"
            onInput={(e) => {
              setKey(e.currentTarget.value);
              setRefusal(null);
            }}
          />
          <p class="hint" id="key-hint">
            Starting twice with the same key returns the first run instead of a new one.
          </p>
          <FieldErrors id="key-errors" issues={keyRefusal.map((issue) => ({ path: '', message: issue.message }))} origin="server" />
        </div>

        {otherRefusal ? (
          <p class="notice error" id="server-refusal" role="alert" data-origin="server">
            The server refused this run: {otherRefusal.message}
          </p>
        ) : null}

        <div class="form-actions">
          <button type="submit" class="button primary" disabled={submitting || !workflow}>
            {submitting ? 'Starting…' : 'Start run'}
          </button>
          <Link href="/" class="button subtle">
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}

function FieldErrors({ issues, origin, id }: { issues: InputIssue[]; origin: 'client' | 'server'; id?: string }) {
  if (issues.length === 0) return id ? <div id={id} /> : null;
  return (
    <ul class="field-errors" data-origin={origin} id={id} role={origin === 'server' ? 'alert' : undefined}>
      {origin === 'server' ? <li class="field-errors-title">The server refused this run:</li> : null}
      {issues.map((issue) => (
        <li>
          {issue.path ? <code>{issue.path}</code> : null}
          {issue.path ? ' ' : ''}
          {issue.message}
        </li>
      ))}
    </ul>
  );
}
