import { followRun, type RunstreamClient } from '@runstream/client';
import type { Command } from './args.js';
import {
  formatEnd,
  formatEvent,
  formatReconnect,
  formatRun,
  formatRunList,
  formatSchedule,
  formatScheduleList,
  formatStarted,
  formatWorkflows,
  jsonLine,
  type Style,
} from './render.js';

export interface Output {
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr. */
  err(line: string): void;
  json: boolean;
  style: Style;
  signal: AbortSignal;
}

/** Runs one command against the API; resolves with the exit code (0, or 1 when a followed run did not succeed). */
export async function execute(command: Exclude<Command, { name: 'help' | 'serve' }>, client: RunstreamClient, io: Output): Promise<number> {
  const call = { signal: io.signal };
  const print = (value: unknown, human: () => string | string[]) => {
    if (io.json) io.out(jsonLine(value));
    else for (const line of [human()].flat()) io.out(line);
  };

  switch (command.name) {
    case 'start': {
      const result = await client.runs.create(
        {
          workflow: command.workflow,
          ...(command.input !== undefined ? { input: command.input } : {}),
          ...(command.key !== undefined ? { idempotencyKey: command.key } : {}),
          ...(command.after !== undefined ? { after: command.after } : {}),
        },
        call,
      );
      print(result, () => formatStarted(result, io.style));
      return command.follow ? follow(client, result.run.id, undefined, io) : 0;
    }
    case 'runs': {
      const { name: _, ...filters } = command;
      const result = await client.runs.list(filters as Parameters<RunstreamClient['runs']['list']>[0], call);
      print(result, () => formatRunList(result, io.style));
      return 0;
    }
    case 'get': {
      const run = await client.runs.get({ id: command.runId }, call);
      print(run, () => formatRun(run, io.style));
      return 0;
    }
    case 'cancel': {
      const run = await client.runs.cancel({ id: command.runId }, call);
      print(run, () => formatRun(run, io.style));
      return 0;
    }
    case 'retry': {
      const run = await client.runs.retry({ id: command.runId }, call);
      print(run, () => formatRun(run, io.style));
      return 0;
    }
    case 'signal': {
      const result = await client.runs.signal(
        {
          id: command.runId,
          name: command.signal,
          data: command.data as never,
          ...(command.key === undefined ? {} : { idempotencyKey: command.key }),
        },
        call,
      );
      print(result, () =>
        result.delivered
          ? `signal ${command.signal} delivered to run ${command.runId} (#${result.seq})`
          : `signal ${command.signal} was already delivered to run ${command.runId} with this key`,
      );
      return 0;
    }
    case 'workflows': {
      const workflows = await client.workflows.list(undefined, call);
      print(workflows, () => formatWorkflows(workflows, io.style));
      return 0;
    }
    case 'schedules':
      return schedules(command, client, io);
    case 'tail':
      return follow(client, command.runId, command.fromSeq, io);
  }
}

async function schedules(command: Extract<Command, { name: 'schedules' }>, client: RunstreamClient, io: Output): Promise<number> {
  const call = { signal: io.signal };
  const print = (value: unknown, human: () => string[]) => {
    if (io.json) io.out(jsonLine(value));
    else for (const line of human()) io.out(line);
  };
  switch (command.action) {
    case 'list': {
      const all = await client.schedules.list(undefined, call);
      print(all, () => formatScheduleList(all, io.style));
      return 0;
    }
    case 'create': {
      const { name: _, action: __, paused, ...spec } = command;
      const created = await client.schedules.create({ ...spec, enabled: !paused }, call);
      print(created, () => formatSchedule(created, io.style));
      return 0;
    }
    case 'delete': {
      const deleted = await client.schedules.delete({ id: command.id }, call);
      print(deleted, () => [`deleted schedule ${deleted.id}`]);
      return 0;
    }
    default: {
      const schedule = await client.schedules[command.action]({ id: command.id }, call);
      print(schedule, () => formatSchedule(schedule, io.style));
      return 0;
    }
  }
}

/** Renders a run's events as they arrive (reconnecting through restarts) until it ends; 1 unless it succeeded. */
async function follow(client: RunstreamClient, runId: string, fromSeq: number | undefined, io: Output): Promise<number> {
  const end = await followRun(client, runId, {
    ...(fromSeq !== undefined ? { fromSeq } : {}),
    signal: io.signal,
    onEvent: (event) => io.out(io.json ? jsonLine(event) : formatEvent(event, io.style)),
    onReconnect: (info) => io.err(formatReconnect(info, io.style)),
  });
  if (io.json) io.out(jsonLine({ done: end }));
  else io.out(formatEnd(runId, end, io.style));
  return end.status === 'succeeded' ? 0 : 1;
}
