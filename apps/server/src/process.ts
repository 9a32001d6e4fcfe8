/**
 * The Runstream server process: configuration from the environment (and ./.env), one logger, the workflows
 * module, startServer (or the dev server), and signal handling. SIGTERM/SIGINT shut down gracefully and exit 0;
 * a second signal forces the exit. Shared by `main.ts` and the `runstream start|worker|dev` commands.
 */
import { WorkflowModuleError } from '@runstream/sdk';
import { ConfigError, parseConfig, readEnvironment, type ServerConfig } from './config.js';
import { createLogger } from './logger.js';

export interface ServerProcessOptions {
  /** Variables that override the environment and .env (the CLI's `--workflows`, its role). */
  overrides?: Record<string, string>;
  /** Start the dev server: all roles, reloading the workflows module when its files change. */
  dev?: boolean;
}

/**
 * Wrappers relay the same Ctrl-C: the terminal signals the whole process group (pnpm, tsx and this process), and
 * pnpm and tsx pass it on as well, so one keypress can arrive two or three times within milliseconds. A signal
 * within this window of the first is that same one; a later one is a real second signal.
 */
const DUPLICATE_SIGNAL_MS = 1_000;

export async function runServerProcess(options: ServerProcessOptions = {}): Promise<void> {
  let config: ServerConfig;
  let envFile: string | null;
  try {
    const environment = readEnvironment();
    envFile = environment.envFile;
    config = parseConfig({ ...environment.env, ...options.overrides });
    // The OpenTelemetry SDK reads process.env: OTEL_* variables from .env reach it this way (the environment wins).
    for (const [name, value] of Object.entries(environment.env)) {
      if (name.startsWith('OTEL_') && process.env[name] === undefined && value !== undefined) process.env[name] = value;
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`runstream: ${error.message}\n`);
    process.exit(2);
  }

  const logger = createLogger(config.logLevel);
  if (envFile) logger.info({ file: envFile }, 'read configuration from .env (the environment takes precedence)');

  let server: { close(): Promise<void> } | null = null;
  let stopping: string | null = null;
  let firstSignalAt = 0;
  /** Aborted by a signal during startup: startServer gives up, releases what it built, and we exit 0. */
  const startup = new AbortController();

  async function shutdown(reason: string, code: number) {
    logger.info({ reason }, 'shutting down');
    const began = performance.now();
    try {
      await server?.close();
      logger.info({ ms: Math.round(performance.now() - began) }, 'stopped');
      process.exit(code);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  }

  function onSignal(signal: NodeJS.Signals) {
    if (stopping) {
      if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      logger.warn({ signal }, `second signal during shutdown (${stopping}): exiting now`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = signal;
    firstSignalAt = Date.now();
    // During startup, startServer stops after its current step and releases what it built.
    if (server) void shutdown(signal, 0);
    else startup.abort(new Error(`${signal} during startup`));
  }
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (error) => {
    logger.fatal({ err: error }, 'unhandled promise rejection');
    if (!stopping) {
      stopping = 'unhandledRejection';
      void shutdown('unhandled promise rejection', 1);
    }
  });

  try {
    // Loaded only now, so a configuration error is reported without loading the whole server first.
    if (options.dev) {
      const { startDevServer } = await import('./dev.js');
      server = await startDevServer(config, { logger, signal: startup.signal });
    } else {
      const [{ startServer }, { workflowsFor }] = await Promise.all([import('./server.js'), import('./workflows.js')]);
      server = await startServer(config, { logger, workflows: await workflowsFor(config), signal: startup.signal });
    }
  } catch (error) {
    if (startup.signal.aborted) {
      logger.info({ reason: stopping }, 'stopped during startup');
      process.exit(0);
    }
    if (error instanceof WorkflowModuleError) {
      process.stderr.write(`runstream: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: error }, `startup failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  // A signal after startup's last check: it finished anyway, so shut down now.
  if (stopping) void shutdown(stopping, 0);
}
