import { createRunstreamClient, retryAfterMs } from '@runstream/client';
import { parseCommandLine, usage, UsageError, type Invocation } from './args.js';
import { execute } from './commands.js';
import { formatError } from './render.js';

/** `unavailable` is sysexits' EX_TEMPFAIL: the server answered 503 (an outage); the same command may work later. */
export const exitCodes = { ok: 0, runNotSucceeded: 1, usage: 2, api: 3, unavailable: 75, interrupted: 130 } as const;

export interface CliEnvironment {
  env: Record<string, string | undefined>;
  out(line: string): void;
  err(line: string): void;
  /** Colour the human output (a terminal without NO_COLOR). */
  color: boolean;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  fetch?: typeof globalThis.fetch;
  /**
   * Runs Runstream itself (`start` without a workflow, `worker`, `dev`) with these variables over the environment;
   * resolves only when the process ends. Absent: those commands are refused.
   */
  serve?(options: { overrides: Record<string, string>; dev: boolean }): Promise<number>;
}

/** The whole CLI: parses `argv`, runs the command, prints, and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliEnvironment): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`runstream: ${error.message}`);
    io.err('Run "runstream --help" for usage.');
    return exitCodes.usage;
  }
  const { command, url, token, json } = invocation;
  if (command.name === 'help') {
    io.out(usage);
    return exitCodes.ok;
  }
  if (command.name === 'serve') {
    if (!io.serve) {
      io.err(`runstream: ${command.mode} is not available here`);
      return exitCodes.usage;
    }
    const overrides: Record<string, string> = {};
    if (command.workflows !== undefined) overrides.RUNSTREAM_WORKFLOWS = command.workflows;
    if (command.demo) overrides.RUNSTREAM_DEMO = 'true';
    if (command.mode === 'worker') {
      if (command.workflows === undefined && !io.env.RUNSTREAM_WORKFLOWS && !command.demo) {
        io.err('runstream: worker: give the workflows it runs: --workflows FILE (or RUNSTREAM_WORKFLOWS), or --demo');
        return exitCodes.usage;
      }
      overrides.RUNSTREAM_ROLE = 'worker';
    }
    return io.serve({ overrides, dev: command.mode === 'dev' });
  }
  const client = createRunstreamClient({ url, ...(token ? { token } : {}), ...(io.fetch ? { fetch: io.fetch } : {}) });
  try {
    return await execute(command, client, { out: io.out, err: io.err, json, style: { color: io.color && !json }, signal: io.signal });
  } catch (error) {
    if (io.signal.aborted) return exitCodes.interrupted;
    io.err(`error: ${formatError(error, url)}`);
    if (retryAfterMs(error) !== undefined) {
      io.err('the server is temporarily unavailable: try again shortly');
      return exitCodes.unavailable;
    }
    return exitCodes.api;
  }
}
