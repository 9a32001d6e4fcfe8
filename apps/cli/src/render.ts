import type { FollowRunResult, Run, RunEvent, RunStatus, RunWithSteps, Schedule, Workflow } from '@runstream/client';

/** Rendering is pure: every function returns text; `color` adds ANSI styles (only for a terminal). */
export interface Style {
  color: boolean;
}

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  cyan: [36, 39],
} as const;
type Paint = keyof typeof codes;

function paint(style: Style, paints: Paint | Paint[], text: string): string {
  if (!style.color) return text;
  return [paints].flat().reduce((out, p) => `\u001b[${codes[p][0]}m${out}\u001b[${codes[p][1]}m`, text);
}

const statusPaint: Record<RunStatus, Paint> = {
  queued: 'blue',
  running: 'cyan',
  succeeded: 'green',
  failed: 'red',
  cancelled: 'yellow',
};

export function formatStatus(status: RunStatus, style: Style): string {
  return paint(style, [statusPaint[status], 'bold'], status);
}

/** JSON on one line, cut to `max` characters. */
export function compactJson(value: unknown, max = 200): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The status a run enters with this event, if the event changes it. */
export function statusAfter(type: string): RunStatus | undefined {
  switch (type) {
    case 'run.created':
    case 'run.retried':
      return 'queued';
    case 'run.started':
      return 'running';
    case 'run.succeeded':
      return 'succeeded';
    case 'run.failed':
      return 'failed';
    case 'run.cancelled':
      return 'cancelled';
    default:
      return undefined;
  }
}

type Data = Record<string, unknown>;
const str = (value: unknown) => (typeof value === 'string' ? value : compactJson(value));
const stepLabel = (d: Data) => `${str(d.step)}[${str(d.attempt)}]`;
const errorText = (e: unknown) => {
  const error = (e ?? {}) as Data;
  return `${str(error.name ?? 'Error')}: ${str(error.message ?? '')}`;
};

/** The detail after `#seq type`: what the event says, in words. */
function eventDetail(event: RunEvent): string {
  const d = (event.data && typeof event.data === 'object' ? event.data : {}) as Data;
  switch (event.type) {
    case 'run.created':
      return `${str(d.workflow)}${d.workflowVersion ? `@${str(d.workflowVersion)}` : ''} input ${compactJson(d.input)}`;
    case 'run.started':
      return `attempt ${str(d.attempt)} on ${str(d.workerId)}`;
    case 'run.output':
      return `${d.step ? `${str(d.step)} ` : ''}${compactJson(d.data)}`;
    case 'run.sleeping':
      return `${str(d.name)} until ${str(d.until)}`;
    case 'run.waiting':
      return `for signal ${str(d.signal)}${d.until ? ` until ${str(d.until)}` : ''}`;
    case 'signal.received':
      return `${str(d.signal)} ${compactJson(d.data)}`;
    case 'signal.consumed':
      return `${str(d.signal)} (#${str(d.seq)}) by ${str(d.wait)}`;
    case 'signal.timed_out':
      return `${str(d.signal)} (${str(d.wait)})`;
    case 'run.cancel_requested':
    case 'run.cancelled':
    case 'run.retried':
      return d.reason ? str(d.reason) : '';
    case 'run.succeeded':
      return `output ${compactJson(d.output)}`;
    case 'run.failed':
      return `${errorText(d.error)}${d.step ? ` (step ${str(d.step)})` : ''}`;
    case 'step.started':
      return stepLabel(d);
    case 'step.chunk':
      // Text chunks (LLM tokens) show as the text itself, quoted so whitespace is visible.
      return `${stepLabel(d)} ${typeof d.data === 'string' ? JSON.stringify(d.data) : compactJson(d.data)}`;
    case 'step.completed':
      return `${stepLabel(d)} in ${str(d.durationMs)} ms → ${compactJson(d.output)}`;
    case 'step.failed':
      return `${stepLabel(d)} after ${str(d.durationMs)} ms: ${errorText(d.error)}${d.retryAt ? ` (retry at ${str(d.retryAt)})` : ' (gave up)'}`;
    default: {
      // Every known type is handled above (a new one fails to compile here); this one is newer than the CLI.
      const newer: never = event;
      return compactJson((newer as { data: unknown }).data);
    }
  }
}

/** One line for one event, e.g. `#12 step.chunk generate[1] "word "`; status changes are highlighted. */
export function formatEvent(event: RunEvent, style: Style): string {
  const status = statusAfter(event.type);
  const detail = eventDetail(event);
  const head = `${paint(style, 'dim', `#${event.seq}`)} ${status ? paint(style, 'bold', event.type) : event.type}`;
  const marker = status ? ` ${status === 'running' || status === 'queued' ? '▶' : '■'} ${formatStatus(status, style)}` : '';
  const body = event.type === 'step.failed' ? paint(style, 'red', detail) : detail;
  return `${head}${marker}${body ? ` ${body}` : ''}`;
}

/** The line after a followed run's last event. */
export function formatEnd(runId: string, end: FollowRunResult, style: Style): string {
  return `run ${runId} ${formatStatus(end.status, style)} (last seq ${end.lastSeq})`;
}

/** What a follower prints (to stderr) when its connection dropped and it is about to reconnect. */
export function formatReconnect(
  info: { attempt: number; delayMs: number; error: unknown; lastSeq: number },
  style: Style,
): string {
  return paint(
    style,
    'yellow',
    `… connection lost (${describeCause(info.error)}); reconnecting in ${info.delayMs} ms ${
      info.lastSeq > 0 ? `after #${info.lastSeq}` : '(nothing received yet)'
    } (attempt ${info.attempt})`,
  );
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (isOrpcError(error)) return error.message && error.message !== error.code ? `${error.code}: ${error.message}` : error.code;
  const code = (error as { code?: unknown }).code;
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = cause?.code ?? cause?.message;
  return [typeof code === 'string' ? code : error.message, typeof detail === 'string' ? detail : undefined]
    .filter(Boolean)
    .join(': ');
}

const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - visibleLength(text)));
/** The text without its ANSI styles. */
// eslint-disable-next-line no-control-regex
export const stripAnsi = (text: string) => text.replace(/\u001b\[\d+m/g, '');
const visibleLength = (text: string) => stripAnsi(text).length;

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => visibleLength(row[column] ?? ''))));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : pad(cell, widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatRunList(result: { runs: Run[]; nextCursor?: string | undefined }, style: Style): string[] {
  if (result.runs.length === 0) return ['no runs'];
  const lines = table([
    ['ID', 'WORKFLOW', 'STATUS', 'SEQ', 'CREATED'].map((h) => paint(style, 'bold', h)),
    ...result.runs.map((run) => [run.id, run.workflow, formatStatus(run.status, style), String(run.lastSeq), run.createdAt.toISOString()]),
  ]);
  if (result.nextCursor) lines.push(paint(style, 'dim', `more: --cursor ${result.nextCursor}`));
  return lines;
}

function duration(from: Date | null, to: Date | null): string {
  if (!from || !to) return '';
  const ms = to.getTime() - from.getTime();
  return ms < 1_000 ? ` (${ms} ms)` : ` (${(ms / 1_000).toFixed(1)} s)`;
}

export function formatRun(run: Run | RunWithSteps, style: Style): string[] {
  const field = (name: string, value: string) => `${paint(style, 'bold', pad(name, 9))} ${value}`;
  const lines = [
    field('run', run.id),
    field('workflow', `${run.workflow}${run.workflowVersion ? `@${run.workflowVersion}` : ''}`),
    field('status', `${formatStatus(run.status, style)}${run.cancelRequested && run.status === 'running' ? ' (cancel requested)' : ''}`),
    field('input', compactJson(run.input, 500)),
  ];
  if (run.waitingReason && (run.status === 'queued' || run.status === 'running')) {
    lines.push(field('waiting', paint(style, 'yellow', run.waitingReason)));
  }
  if (run.concurrencyKey) lines.push(field('conc. key', run.concurrencyKey));
  if (run.output !== null && run.output !== undefined) lines.push(field('output', compactJson(run.output, 500)));
  if (run.error) lines.push(field('error', paint(style, 'red', `${run.error.name}: ${run.error.message}`)));
  if (run.idempotencyKey) lines.push(field('key', run.idempotencyKey));
  lines.push(field('created', run.createdAt.toISOString()));
  if (run.startedAt) lines.push(field('started', run.startedAt.toISOString()));
  if (run.finishedAt) lines.push(field('finished', `${run.finishedAt.toISOString()}${duration(run.startedAt, run.finishedAt)}`));
  lines.push(field('attempts', `${run.attempts}, retries ${run.retries}, last seq ${run.lastSeq}`));
  if ('steps' in run && run.steps.length > 0) {
    lines.push(paint(style, 'bold', 'steps'));
    lines.push(
      ...table(
        run.steps.map((step) => [
          step.name,
          step.status,
          `attempt ${step.attempts}`,
          `${step.durationMs} ms`,
          step.chunks ? `${step.chunks} chunks` : '',
          step.error ? paint(style, 'red', `${step.error.name}: ${step.error.message}`) : '',
        ]),
      ).map((line) => `  ${line}`),
    );
  }
  return lines;
}

/** A JSON Schema's object properties as `name: type`, optional ones marked `?`. */
export function summarizeSchema(schema: unknown): string {
  const s = (schema ?? {}) as { type?: unknown; properties?: Record<string, { type?: unknown }>; required?: unknown };
  if (s.type !== 'object' || !s.properties) return compactJson(schema, 120);
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const fields = Object.entries(s.properties).map(
    ([name, property]) => `${name}${required.has(name) ? '' : '?'}: ${[property.type ?? 'any'].flat().join('|')}`,
  );
  return `{ ${fields.join(', ')} }`;
}

export function formatWorkflows(workflows: Workflow[], style: Style): string[] {
  if (workflows.length === 0) return ['no workflows'];
  return table([
    ['NAME', 'VERSION', 'CONCURRENCY', 'INPUT'].map((h) => paint(style, 'bold', h)),
    ...workflows.map((w) => [w.name, w.version, w.concurrency === null ? '-' : String(w.concurrency), summarizeSchema(w.inputSchema)]),
  ]);
}

const catchUpText = (catchUp: Schedule['catchUp']) => (catchUp === 'skip' ? 'skip missed' : `catch up ${catchUp}`);

export function formatScheduleList(schedules: Schedule[], style: Style): string[] {
  if (schedules.length === 0) return ['no schedules'];
  return table([
    ['ID', 'CRON', 'TIMEZONE', 'WORKFLOW', 'STATE', 'NEXT'].map((h) => paint(style, 'bold', h)),
    ...schedules.map((s) => [
      s.id,
      s.cron,
      s.timezone,
      s.workflow,
      s.enabled ? paint(style, 'green', 'enabled') : paint(style, 'yellow', 'paused'),
      s.nextFireTimes[0]?.toISOString() ?? '-',
    ]),
  ]);
}

export function formatSchedule(schedule: Schedule, style: Style): string[] {
  const field = (name: string, value: string) => `${paint(style, 'bold', pad(name, 9))} ${value}`;
  return [
    field('schedule', schedule.id),
    field('cron', `${schedule.cron} (${schedule.timezone})`),
    field('workflow', schedule.workflow),
    field('input', compactJson(schedule.input, 500)),
    field('state', `${schedule.enabled ? 'enabled' : 'paused'}, ${catchUpText(schedule.catchUp)}, from ${schedule.source}`),
    ...(schedule.lastFireAt ? [field('last', schedule.lastFireAt.toISOString())] : []),
    paint(style, 'bold', 'next'),
    ...(schedule.nextFireTimes.length > 0 ? schedule.nextFireTimes.map((at) => `  ${at.toISOString()}`) : ['  - (paused)']),
  ];
}

export function formatStarted(result: { run: Run; created: boolean }, style: Style): string {
  const { run, created } = result;
  return created
    ? `started run ${run.id} (${run.workflow}, ${formatStatus(run.status, style)})`
    : `run ${run.id} already exists for key ${run.idempotencyKey ?? ''} (${run.workflow}, ${formatStatus(run.status, style)})`;
}

/** An API or connection error as one line: the code, then the field and message (or the message). */
export function formatError(error: unknown, url: string): string {
  const e = error as { code?: unknown; message?: unknown; data?: unknown; cause?: unknown };
  if (isOrpcError(error)) return `${error.code} ${describeData(error.data, error.message) ?? error.message}`;
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (error instanceof TypeError && cause) {
    const causeCode = cause.code ?? (cause as { errors?: { code?: unknown }[] }).errors?.[0]?.code;
    return `UNREACHABLE cannot reach ${url}: ${typeof causeCode === 'string' ? causeCode : String(cause.message ?? error.message)}`;
  }
  return `${error instanceof Error ? error.name : 'Error'} ${String(e.message ?? error)}`;
}

function isOrpcError(error: unknown): error is { code: string; message: string; data: unknown } {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    'data' in error &&
    typeof (error as { status?: unknown }).status === 'number'
  );
}

/** `field: message` for the contract's BAD_REQUEST data, or a zod issue list; undefined for anything else. */
function describeData(data: unknown, message: string): string | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const d = data as { field?: unknown; issues?: unknown; id?: unknown; status?: unknown };
  if (Array.isArray(d.issues) && d.issues.length > 0) {
    return d.issues
      .map((issue: { field?: unknown; path?: unknown; message?: unknown }) => {
        const field =
          typeof issue.field === 'string' ? issue.field : Array.isArray(issue.path) ? issue.path.join('.') : undefined;
        return field ? `${field}: ${String(issue.message)}` : String(issue.message);
      })
      .join('; ');
  }
  if (typeof d.field === 'string') return `${d.field}: ${message}`;
  if (typeof d.id === 'string') return `${message} (run ${d.id}${typeof d.status === 'string' ? `, ${d.status}` : ''})`;
  return undefined;
}

/** `--json` output: one line per value (dates as ISO strings). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value);
}
