import { ORPCError, type Run, type RunEvent, type RunWithSteps } from '@runstream/client';
import { describe, expect, it } from 'vitest';
import {
  compactJson,
  formatEnd,
  formatError,
  formatEvent,
  formatReconnect,
  formatRun,
  formatRunList,
  formatSchedule,
  formatScheduleList,
  formatStarted,
  formatWorkflows,
  stripAnsi,
  summarizeSchema,
} from './render.js';

const plain = { color: false };
const color = { color: true };
const runId = '00000000-0000-4000-8000-000000000001';
const event = (seq: number, type: string, data: unknown) => ({ runId, seq, type, data, createdAt: new Date(0) }) as RunEvent;

const run: Run = {
  id: runId,
  workflow: 'demo.tokens',
  workflowVersion: '1',
  input: { text: 'hi there' },
  status: 'succeeded',
  idempotencyKey: null,
  parentRunId: null,
  after: [],
  lastSeq: 7,
  attempts: 1,
  retries: 0,
  cancelRequested: false,
  output: { text: 'hi there', words: 2 },
  error: null,
  createdAt: new Date('2025-01-01T00:00:00.000Z'),
  updatedAt: new Date('2025-01-01T00:00:01.500Z'),
  startedAt: new Date('2025-01-01T00:00:00.250Z'),
  finishedAt: new Date('2025-01-01T00:00:01.500Z'),
  concurrencyKey: null,
  waitingReason: null,
  waiting: null,
};

describe('formatEvent', () => {
  it.each([
    [event(1, 'run.created', { workflow: 'demo.tokens', input: { text: 'hi' } }), '#1 run.created ▶ queued demo.tokens input {"text":"hi"}'],
    [event(2, 'run.started', { attempt: 1, workerId: 'w-1' }), '#2 run.started ▶ running attempt 1 on w-1'],
    [event(3, 'step.started', { step: 'generate', attempt: 1 }), '#3 step.started generate[1]'],
    [event(12, 'step.chunk', { step: 'generate', attempt: 1, index: 8, data: 'word ' }), '#12 step.chunk generate[1] "word "'],
    [event(13, 'step.chunk', { step: 'generate', attempt: 2, index: 0, data: { n: 1 } }), '#13 step.chunk generate[2] {"n":1}'],
    [
      event(14, 'step.completed', { step: 'generate', attempt: 1, durationMs: 340, output: 'hi' }),
      '#14 step.completed generate[1] in 340 ms → "hi"',
    ],
    [
      event(5, 'step.failed', {
        step: 'unreliable',
        attempt: 1,
        durationMs: 3,
        error: { name: 'Error', message: 'nope' },
        retryAt: '2025-01-01T00:00:01.000Z',
      }),
      '#5 step.failed unreliable[1] after 3 ms: Error: nope (retry at 2025-01-01T00:00:01.000Z)',
    ],
    [event(6, 'run.output', { data: { remaining: 3 } }), '#6 run.output {"remaining":3}'],
    [event(4, 'run.sleeping', { name: 'nap', until: '2025-01-01T00:00:05.000Z' }), '#4 run.sleeping nap until 2025-01-01T00:00:05.000Z'],
    [event(7, 'run.succeeded', { output: { words: 2 } }), '#7 run.succeeded ■ succeeded output {"words":2}'],
    [
      event(8, 'run.failed', { error: { name: 'TypeError', message: 'bad' }, step: 'generate' }),
      '#8 run.failed ■ failed TypeError: bad (step generate)',
    ],
    [event(9, 'run.cancelled', { reason: 'user' }), '#9 run.cancelled ■ cancelled user'],
    [event(10, 'run.cancel_requested', {}), '#10 run.cancel_requested'],
    [event(11, 'run.retried', {}), '#11 run.retried ▶ queued'],
    [event(15, 'custom.thing', { a: 1 }), '#15 custom.thing {"a":1}'],
  ])('renders %#: %s', (e, line) => {
    expect(formatEvent(e, plain)).toBe(line);
  });

  it('highlights status changes with colour only when asked', () => {
    const line = formatEvent(event(7, 'run.succeeded', { output: null }), color);
    expect(line).toContain('\u001b[32m');
    expect(stripAnsi(line)).toBe('#7 run.succeeded ■ succeeded output null');
  });
});

describe('formatError', () => {
  const url = 'http://127.0.0.1:7420';

  it('names the field of a BAD_REQUEST', () => {
    const error = new ORPCError('BAD_REQUEST', {
      status: 400,
      message: 'invalid input: input.count: Too small',
      data: { field: 'input.count', issues: [{ field: 'input.count', message: 'Too small: expected number to be >=0' }] },
    });
    expect(formatError(error, url)).toBe('BAD_REQUEST input.count: Too small: expected number to be >=0');
  });

  it('lists every issue, including zod-style paths', () => {
    const error = new ORPCError('BAD_REQUEST', {
      data: { issues: [{ path: ['input', 'text'], message: 'Required' }, { field: 'workflow', message: 'Too long' }] },
    });
    expect(formatError(error, url)).toBe('BAD_REQUEST input.text: Required; workflow: Too long');
  });

  it('shows NOT_FOUND and CONFLICT with their message and run', () => {
    expect(formatError(new ORPCError('NOT_FOUND', { message: 'run x not found', data: { id: 'x' } }), url)).toBe(
      'NOT_FOUND run x not found (run x)',
    );
    expect(
      formatError(new ORPCError('CONFLICT', { message: 'cannot retry', data: { id: 'x', status: 'running' } }), url),
    ).toBe('CONFLICT cannot retry (run x, running)');
    expect(formatError(new ORPCError('UNAUTHORIZED', { message: 'a valid bearer token is required' }), url)).toBe(
      'UNAUTHORIZED a valid bearer token is required',
    );
  });

  it('explains an unreachable server', () => {
    const error = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(formatError(error, url)).toBe(`UNREACHABLE cannot reach ${url}: ECONNREFUSED`);
  });
});

describe('other output', () => {
  it('formats a run list as a table with the next cursor', () => {
    const lines = formatRunList({ runs: [run, { ...run, id: 'short', workflow: 'w', status: 'failed' }], nextCursor: 'c1' }, plain);
    expect(lines[0]).toMatch(/^ID\s+WORKFLOW\s+STATUS\s+SEQ\s+CREATED$/);
    expect(lines[1]).toBe(`${runId}  demo.tokens  succeeded  7    2025-01-01T00:00:00.000Z`);
    expect(lines[2]).toMatch(/^short\s+w\s+failed\s+7\s+2025/);
    expect(lines[3]).toBe('more: --cursor c1');
    expect(formatRunList({ runs: [] }, plain)).toEqual(['no runs']);
  });

  it('formats a run with its steps', () => {
    const withSteps: RunWithSteps = {
      ...run,
      steps: [
        {
          name: 'generate',
          status: 'completed',
          attempts: 1,
          startedAt: run.startedAt!,
          finishedAt: run.finishedAt,
          durationMs: 1250,
          output: 'hi there',
          error: null,
          chunks: 2,
        },
      ],
    };
    const text = formatRun(withSteps, plain).join('\n');
    expect(text).toContain(`run       ${runId}`);
    expect(text).toContain('status    succeeded');
    expect(text).toContain('output    {"text":"hi there","words":2}');
    expect(text).toContain('finished  2025-01-01T00:00:01.500Z (1.3 s)');
    expect(text).toContain('attempts  1, retries 0, last seq 7');
    expect(text).toMatch(/ {2}generate {2}completed {2}attempt 1 {2}1250 ms {2}2 chunks/);
  });

  it('shows why a queued run waits, and its concurrency key', () => {
    const waiting = { ...run, status: 'queued' as const, concurrencyKey: 'acme', waitingReason: 'throttled: key acme has 2 of 2 runs executing' };
    const text = formatRun(waiting, plain).join('\n');
    expect(text).toContain('waiting   throttled: key acme has 2 of 2 runs executing');
    expect(text).toContain('conc. key acme');
    expect(formatRun({ ...waiting, status: 'succeeded' }, plain).join('\n')).not.toContain('waiting');
  });

  it('formats a schedule with its next fire times, and the schedule list', () => {
    const schedule = {
      id: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Paris',
      workflow: 'demo.countdown',
      input: { count: 1 },
      enabled: true,
      catchUp: 'skip' as const,
      source: 'api' as const,
      nextFireAt: new Date('2030-01-02T01:00:00.000Z'),
      lastFireAt: null,
      nextFireTimes: [new Date('2030-01-02T01:00:00.000Z'), new Date('2030-01-03T01:00:00.000Z')],
      createdAt: new Date(0),
      updatedAt: new Date(0),
    };
    expect(formatSchedule(schedule, plain)).toEqual([
      'schedule  nightly',
      'cron      0 2 * * * (Europe/Paris)',
      'workflow  demo.countdown',
      'input     {"count":1}',
      'state     enabled, skip missed, from api',
      'next',
      '  2030-01-02T01:00:00.000Z',
      '  2030-01-03T01:00:00.000Z',
    ]);
    expect(formatScheduleList([{ ...schedule, enabled: false, nextFireTimes: [] }], plain)[1]).toBe(
      'nightly  0 2 * * *  Europe/Paris  demo.countdown  paused  -',
    );
  });

  it('formats the start result, the end of a follow and a reconnect', () => {
    expect(formatStarted({ run: { ...run, status: 'queued' }, created: true }, plain)).toBe(`started run ${runId} (demo.tokens, queued)`);
    expect(formatStarted({ run: { ...run, idempotencyKey: 'k' }, created: false }, plain)).toBe(
      `run ${runId} already exists for key k (demo.tokens, succeeded)`,
    );
    expect(formatEnd(runId, { status: 'failed', lastSeq: 9 }, plain)).toBe(`run ${runId} failed (last seq 9)`);
    const refused = new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    expect(formatReconnect({ attempt: 2, delayMs: 200, error: refused, lastSeq: 12 }, plain)).toBe(
      '… connection lost (fetch failed: ECONNREFUSED); reconnecting in 200 ms after #12 (attempt 2)',
    );
    const closing = new ORPCError('SERVICE_UNAVAILABLE', { message: 'the server is shutting down; reconnect' });
    expect(formatReconnect({ attempt: 1, delayMs: 100, error: closing, lastSeq: 0 }, plain)).toBe(
      '… connection lost (SERVICE_UNAVAILABLE: the server is shutting down; reconnect); reconnecting in 100 ms (nothing received yet) (attempt 1)',
    );
  });

  it('summarises workflow input schemas', () => {
    const schema = {
      type: 'object',
      properties: { text: { type: 'string' }, intervalMs: { type: 'integer' } },
      required: ['text'],
    };
    expect(summarizeSchema(schema)).toBe('{ text: string, intervalMs?: integer }');
    const lines = formatWorkflows([{ name: 'demo.tokens', version: '1', inputSchema: schema, concurrency: null, keyConcurrency: null, local: true, versions: [], workers: [] }], plain);
    expect(lines[1]).toBe('demo.tokens  1        -            { text: string, intervalMs?: integer }');
  });

  it('cuts long JSON', () => {
    expect(compactJson('x'.repeat(300), 10)).toBe('"xxxxxxxx…');
  });
});
