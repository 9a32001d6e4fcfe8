import { runStatuses, type RunStatus } from '@runstream/domain';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Command =
  | { name: 'start'; workflow: string; input: unknown; key?: string; after?: string[]; follow: boolean }
  | { name: 'runs'; status?: RunStatus[]; workflow?: string; limit?: number; cursor?: string }
  | { name: 'get' | 'cancel' | 'retry'; runId: string }
  | { name: 'tail'; runId: string; fromSeq?: number }
  | { name: 'signal'; runId: string; signal: string; data: unknown; key?: string }
  | { name: 'workflows' }
  | { name: 'serve'; mode: ServeMode; workflows?: string; demo: boolean }
  | { name: 'schedules'; action: 'list' }
  | { name: 'schedules'; action: 'get' | 'pause' | 'resume' | 'delete'; id: string }
  | {
      name: 'schedules';
      action: 'create';
      id: string;
      cron: string;
      workflow: string;
      timezone?: string;
      input?: unknown;
      catchUp?: 'skip' | number;
      paused: boolean;
    }
  | { name: 'help' };

/** The commands that run Runstream itself rather than call a server. */
export const serveModes = ['start', 'worker', 'dev'] as const;
export type ServeMode = (typeof serveModes)[number];

export interface Invocation {
  command: Command;
  url: string;
  token?: string;
  json: boolean;
}

/** A mistake in the command line itself (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const defaultUrl = 'http://127.0.0.1:7420';

export const usage = `Usage: runstream [--url URL] [--token TOKEN] [--json] <command> [options]

Run Runstream (configured by the environment and ./.env, see the README):
  start [--workflows FILE] [--demo]                       the server: API, dashboard, worker (RUNSTREAM_ROLE)
  worker --workflows FILE                                 a worker joining a deployment (DATABASE_URL, REDIS_URL,
                                                          RUNSTREAM_NAMESPACE); serves only /health/*
  dev [--workflows FILE] [--demo]                         embedded PostgreSQL + API + worker + dashboard, reloading
                                                          FILE when files under its directory change
  FILE is a module exporting workflow definitions (TypeScript loads without a build step; env RUNSTREAM_WORKFLOWS).
  Without one, the demo workflows are loaded; --demo loads them beside FILE's.

Commands against a server:
  start <workflow> [--input JSON] [--key KEY] [--follow]   start a run (idempotent with --key); --follow tails it
        [--after ID[,ID]]                                 only once those runs succeeded (cancelled if one does not)
  runs [--status S[,S]] [--workflow W] [--limit N] [--cursor C]   list runs, newest first
  get <runId>                                             a run with its steps
  tail <runId> [--from N]                                 stream a run's events until it ends (survives restarts)
  cancel <runId>                                          cancel a run
  retry <runId>                                           re-queue a failed run from its failed step
  signal <runId> <name> [--data JSON] [--key KEY]         send a signal to a run (exactly-once with --key)
  workflows                                               registered workflows and their inputs
  schedules [list]                                        schedules with their next fire time
  schedules create <id> --cron C --workflow W [--tz TZ] [--input JSON] [--catch-up skip|N] [--paused]
                                                          create a schedule (cron: 5 fields, or 6 with seconds)
  schedules get|pause|resume|delete <id>                  a schedule with its next 5 fire times; pause, resume, delete

Global options:
  --url URL      server base URL (env RUNSTREAM_URL, default ${defaultUrl})
  --token TOKEN  API bearer token (env RUNSTREAM_API_TOKEN)
  --json         machine output: one JSON object per line
  -h, --help     this help

Exit codes: 0 ok, 1 a followed run failed or was cancelled, 2 usage error (or an unusable workflows module),
3 server or API error.`;

type Options = NonNullable<ParseArgsConfig['options']>;

const globalOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

const commandOptions = {
  start: {
    input: { type: 'string' },
    key: { type: 'string' },
    after: { type: 'string', multiple: true },
    follow: { type: 'boolean', short: 'f' },
    workflows: { type: 'string' },
    demo: { type: 'boolean' },
  },
  worker: { workflows: { type: 'string' }, demo: { type: 'boolean' } },
  dev: { workflows: { type: 'string' }, demo: { type: 'boolean' } },
  runs: {
    status: { type: 'string', multiple: true },
    workflow: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
  },
  get: {},
  tail: { from: { type: 'string' } },
  cancel: {},
  retry: {},
  signal: { data: { type: 'string' }, key: { type: 'string' } },
  workflows: {},
  schedules: {
    cron: { type: 'string' },
    workflow: { type: 'string' },
    tz: { type: 'string' },
    input: { type: 'string' },
    'catch-up': { type: 'string' },
    paused: { type: 'boolean' },
  },
  help: {},
} satisfies Record<Exclude<Command['name'], 'serve'> | ServeMode, Options>;

type CommandName = keyof typeof commandOptions;
const commandNames = Object.keys(commandOptions) as CommandName[];

/** Parses `argv` (without node and the script) into an invocation; throws `UsageError` on any mistake. */
export function parseCommandLine(argv: readonly string[], env: Record<string, string | undefined> = {}): Invocation {
  // `pnpm cli -- runs` hands the script a leading `--`.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];

  // First pass, lenient: find the command (the first positional) whatever options surround it.
  const allOptions: Options = { ...globalOptions };
  for (const options of Object.values(commandOptions)) Object.assign(allOptions, options);
  const { tokens } = parseArgs({ args, options: allOptions, allowPositionals: true, strict: false, tokens: true });
  const commandToken = tokens.find((token) => token.kind === 'positional');
  const name = commandToken?.value;

  if (name === undefined) {
    if (args.includes('--help') || args.includes('-h')) return invocation({ name: 'help' }, {}, env);
    throw new UsageError('no command given');
  }
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"`);

  // Second pass, strict: only the global options and this command's.
  const rest = args.filter((_, index) => index !== commandToken!.index);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...globalOptions, ...commandOptions[name] }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const positionals = parsed.positionals;
  if (values.help) return invocation({ name: 'help' }, values, env);

  const want = (count: number, what: string) => {
    if (positionals.length < count) throw new UsageError(`${name}: missing ${what}`);
    if (positionals.length > count) throw new UsageError(`${name}: unexpected argument "${positionals[count]}"`);
  };
  const string = (key: string) => values[key] as string | undefined;

  const serve = (mode: ServeMode): Invocation => {
    want(0, '');
    const workflows = string('workflows');
    return invocation({ name: 'serve', mode, ...(workflows !== undefined ? { workflows } : {}), demo: values.demo === true }, values, env);
  };

  switch (name) {
    case 'worker':
    case 'dev':
      return serve(name);
    case 'start': {
      // Without a workflow name, `start` runs the server; with one, it starts a run on a server.
      if (positionals.length === 0) {
        const runOnly = ['input', 'key', 'after', 'follow'].find((option) => values[option] !== undefined);
        if (runOnly) throw new UsageError(`start: missing <workflow> (--${runOnly} starts a run)`);
        return serve('start');
      }
      for (const option of ['workflows', 'demo']) {
        if (values[option] !== undefined) throw new UsageError(`start: --${option} runs the server, which takes no <workflow>`);
      }
      want(1, '<workflow>');
      const key = string('key');
      const after = (values.after as string[] | undefined)?.flatMap((id) => id.split(',')).filter(Boolean);
      return invocation(
        {
          name,
          workflow: positionals[0]!,
          input: parseJsonOption('input', string('input')),
          ...(key !== undefined ? { key } : {}),
          ...(after?.length ? { after } : {}),
          follow: values.follow === true,
        },
        values,
        env,
      );
    }
    case 'runs': {
      want(0, '');
      const status = (values.status as string[] | undefined)?.flatMap((s) => s.split(',')).filter(Boolean);
      for (const s of status ?? []) {
        if (!(runStatuses as readonly string[]).includes(s)) {
          throw new UsageError(`runs: --status must be one of ${runStatuses.join(', ')} (got "${s}")`);
        }
      }
      const limit = string('limit');
      const workflow = string('workflow');
      const cursor = string('cursor');
      return invocation(
        {
          name,
          ...(status?.length ? { status: status as RunStatus[] } : {}),
          ...(workflow !== undefined ? { workflow } : {}),
          ...(limit !== undefined ? { limit: positiveInteger('runs', 'limit', limit) } : {}),
          ...(cursor !== undefined ? { cursor } : {}),
        },
        values,
        env,
      );
    }
    case 'tail': {
      want(1, '<runId>');
      const from = string('from');
      return invocation(
        { name, runId: positionals[0]!, ...(from !== undefined ? { fromSeq: positiveInteger('tail', 'from', from) } : {}) },
        values,
        env,
      );
    }
    case 'signal': {
      want(2, '<runId> <name>');
      const key = string('key');
      return invocation(
        {
          name,
          runId: positionals[0]!,
          signal: positionals[1]!,
          data: parseJsonOption('data', string('data')) ?? null,
          ...(key !== undefined ? { key } : {}),
        },
        values,
        env,
      );
    }
    case 'get':
    case 'cancel':
    case 'retry':
      want(1, '<runId>');
      return invocation({ name, runId: positionals[0]! }, values, env);
    case 'schedules':
      return invocation(parseSchedulesCommand(positionals, values), values, env);
    case 'workflows':
    case 'help':
      want(0, '');
      return invocation({ name }, values, env);
  }
}

const scheduleActions = ['list', 'create', 'get', 'pause', 'resume', 'delete'] as const;

function parseSchedulesCommand(
  positionals: string[],
  values: Record<string, string | string[] | boolean | undefined>,
): Extract<Command, { name: 'schedules' }> {
  const [action = 'list', id, extra] = positionals;
  if (!(scheduleActions as readonly string[]).includes(action)) {
    throw new UsageError(`schedules: unknown action "${action}" (one of ${scheduleActions.join(', ')})`);
  }
  if (action === 'list') {
    if (id !== undefined) throw new UsageError(`schedules: unexpected argument "${id}"`);
    return { name: 'schedules', action };
  }
  if (id === undefined) throw new UsageError(`schedules ${action}: missing <id>`);
  if (extra !== undefined) throw new UsageError(`schedules ${action}: unexpected argument "${extra}"`);
  if (action !== 'create') return { name: 'schedules', action: action as 'get' | 'pause' | 'resume' | 'delete', id };
  const cron = values.cron as string | undefined;
  const workflow = values.workflow as string | undefined;
  if (cron === undefined) throw new UsageError('schedules create: missing --cron');
  if (workflow === undefined) throw new UsageError('schedules create: missing --workflow');
  const timezone = values.tz as string | undefined;
  const catchUpText = values['catch-up'] as string | undefined;
  const input = parseJsonOption('input', values.input as string | undefined);
  return {
    name: 'schedules',
    action,
    id,
    cron,
    workflow,
    ...(timezone !== undefined ? { timezone } : {}),
    ...(input !== undefined ? { input } : {}),
    ...(catchUpText === undefined
      ? {}
      : { catchUp: catchUpText === 'skip' ? ('skip' as const) : nonNegativeInteger('schedules', 'catch-up', catchUpText) }),
    paused: values.paused === true,
  };
}

function nonNegativeInteger(command: string, option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new UsageError(`${command}: --${option} must be "skip" or a whole number (got "${text}")`);
  }
  return value;
}

function isCommandName(name: string): name is CommandName {
  return (commandNames as string[]).includes(name);
}

function invocation(
  command: Command,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
): Invocation {
  const url = (values.url as string | undefined) ?? (env.RUNSTREAM_URL || defaultUrl);
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url is not a valid URL: "${url}"`);
  }
  const token = (values.token as string | undefined) ?? (env.RUNSTREAM_API_TOKEN || undefined);
  return { command, url, ...(token ? { token } : {}), json: values.json === true };
}

function parseJsonOption(option: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--${option} is not valid JSON: ${(error as Error).message}`);
  }
}

function positiveInteger(command: string, option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${command}: --${option} must be a positive integer (got "${text}")`);
  }
  return value;
}
