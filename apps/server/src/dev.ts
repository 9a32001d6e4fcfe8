import { startEmbeddedPostgres, type AnyWorkflow, type Runstream } from '@runstream/sdk';
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import { createNode, routes, startHttp, type RunningHttp } from './server.js';
import { workflowsFor } from './workflows.js';

/** Edits arrive as bursts of file events (an editor's save is several): reload once they settle. */
const SETTLE_MS = 150;

export interface DevServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `runstream dev`: one process with PostgreSQL (embedded unless DATABASE_URL is set), the API, the dashboard and
 * a worker, which reloads the workflows module when a file under its directory changes. A reload loads the new
 * definitions (their version hashes change with their code, so new runs record the new version), closes the old
 * Runstream (its in-flight runs are handed off) and builds a new one that resumes them. A module that fails to
 * load leaves the running version in place.
 */
export async function startDevServer(
  config: ServerConfig,
  { logger, signal }: { logger: Logger; signal?: AbortSignal },
): Promise<DevServer> {
  let stopPostgres: (() => Promise<void>) | null = null;
  let current: Runstream<readonly AnyWorkflow[]> | null = null;
  let http: RunningHttp | null = null;
  let watcher: FSWatcher | null = null;
  let timer: NodeJS.Timeout | undefined;
  let reloading: Promise<void> = Promise.resolve();
  // Stop watching and let a reload in progress finish, then the HTTP server, Runstream, PostgreSQL.
  const close = async () => {
    clearTimeout(timer);
    watcher?.close();
    await reloading;
    await http?.close();
    await current?.close();
    await stopPostgres?.();
  };

  try {
    let nodeConfig: ServerConfig = { ...config, role: 'all' };
    if (!nodeConfig.databaseUrl) {
      const postgres = await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.embeddedPgPort,
        database: 'runstream',
        logger,
      });
      stopPostgres = () => postgres.stop();
      nodeConfig = { ...nodeConfig, databaseUrl: postgres.url };
    }

    const first = await createNode(nodeConfig, await workflowsFor(nodeConfig), logger, signal ? { signal } : {});
    current = first;
    let currentRoutes = routes(nodeConfig, first);
    http = await startHttp(
      nodeConfig,
      {
        handle: (req, res) => currentRoutes.handle(req, res),
        endStreams: () => currentRoutes.endStreams(),
        // The first node's settings: a reload changes the workflows, not the HTTP bounds.
        createHttpServer: (listener) => currentRoutes.createHttpServer(listener),
      },
      logger,
    );
    signal?.throwIfAborted();
    logger.info({ url: http.url, workflows: versions(first) }, 'Runstream dev server ready');

    // The definitions load first: a module that fails to load leaves the running version in place. Then the old
    // version stops before the new one starts, so no job of a new run is taken by the old worker (they share the
    // queue); requests in between are answered 503 by the closed API.
    const reload = async () => {
      let workflows: AnyWorkflow[];
      try {
        workflows = await workflowsFor(nodeConfig);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        logger.error({ err: error }, `reload failed, still running the previous version: ${message}`);
        return;
      }
      await current?.close().catch((error: unknown) => logger.error({ err: error }, 'closing the previous version failed'));
      current = null;
      const next = await createNode(nodeConfig, workflows, logger);
      current = next;
      currentRoutes = routes(nodeConfig, next);
      logger.info({ workflows: versions(next) }, 'workflows reloaded');
    };

    if (config.workflowsModule) {
      watcher = watch(dirname(config.workflowsModule), { recursive: true }, (_event, file) => {
        if (file && /(^|[\\/])(node_modules|\.git)([\\/]|$)/.test(file)) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          reloading = reloading.then(reload).catch((error: unknown) => logger.error({ err: error }, 'reload failed: restart runstream dev'));
        }, SETTLE_MS);
      });
    }
    return { url: http.url, close };
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

function versions(rs: Runstream<readonly AnyWorkflow[]>): string[] {
  return rs.workflowList().map((workflow) => `${workflow.name}@${workflow.version}`);
}
