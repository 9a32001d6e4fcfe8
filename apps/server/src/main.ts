#!/usr/bin/env tsx
/**
 * The Runstream server process: configuration from the environment (and ./.env), one logger, startServer, and
 * signal handling. SIGTERM/SIGINT shut down gracefully and exit 0; a second signal forces the exit.
 */
import { ConfigError, parseConfig, readEnvironment, type ServerConfig } from './config.js';
import { createLogger } from './logger.js';
import type { StartedServer } from './server.js';

let config: ServerConfig;
let envFile: string | null;
try {
  const environment = readEnvironment();
  envFile = environment.envFile;
  config = parseConfig(environment.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`runstream: ${error.message}\n`);
  process.exit(2);
}

const logger = createLogger(config.logLevel);
if (envFile) logger.info({ file: envFile }, 'read configuration from .env (the environment takes precedence)');

let server: StartedServer | null = null;
let stopping: string | null = null;
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

/**
 * Wrappers relay the same Ctrl-C: the terminal signals the whole process group (pnpm, tsx and this process), and
 * pnpm and tsx pass it on as well, so one keypress can arrive two or three times within milliseconds. A signal
 * within this window of the first is that same one; a later one is a real second signal.
 */
const DUPLICATE_SIGNAL_MS = 1_000;
let firstSignalAt = 0;

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
  const { startServer } = await import('./server.js');
  server = await startServer(config, { logger, signal: startup.signal });
} catch (error) {
  if (startup.signal.aborted) {
    logger.info({ reason: stopping }, 'stopped during startup');
    process.exit(0);
  }
  logger.fatal({ err: error }, `startup failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
// A signal after startup's last check: it finished anyway, so shut down now.
if (stopping) void shutdown(stopping, 0);
