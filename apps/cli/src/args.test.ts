import { describe, expect, it } from 'vitest';
import { defaultUrl, parseCommandLine, UsageError } from './args.js';

const runId = '00000000-0000-4000-8000-000000000001';

describe('parseCommandLine', () => {
  it('parses start with JSON input, key and follow, global flags on either side of the command', () => {
    expect(
      parseCommandLine(['--url', 'http://h:1', 'start', 'demo.tokens', '--input', '{"text":"hi"}', '--key', 'k1', '--follow', '--json']),
    ).toEqual({
      url: 'http://h:1',
      json: true,
      command: { name: 'start', workflow: 'demo.tokens', input: { text: 'hi' }, key: 'k1', follow: true },
    });
    expect(parseCommandLine(['start', 'demo.sleep']).command).toEqual({
      name: 'start',
      workflow: 'demo.sleep',
      input: undefined,
      follow: false,
    });
  });

  it('takes url and token from the environment, flags first', () => {
    const env = { RUNSTREAM_URL: 'http://env:2', RUNSTREAM_API_TOKEN: 'tok' };
    expect(parseCommandLine(['workflows'], env)).toMatchObject({ url: 'http://env:2', token: 'tok', json: false });
    expect(parseCommandLine(['workflows', '--token', 'flag', '--url', 'http://f:3'], env)).toMatchObject({
      url: 'http://f:3',
      token: 'flag',
    });
    expect(parseCommandLine(['workflows'])).toEqual({ url: defaultUrl, json: false, command: { name: 'workflows' } });
  });

  it('parses the commands that run Runstream: start without a workflow, worker, dev', () => {
    expect(parseCommandLine(['start']).command).toEqual({ name: 'serve', mode: 'start', demo: false });
    expect(parseCommandLine(['start', '--workflows', './src/w.ts', '--demo']).command).toEqual({
      name: 'serve',
      mode: 'start',
      workflows: './src/w.ts',
      demo: true,
    });
    expect(parseCommandLine(['worker', '--workflows', 'w.ts']).command).toEqual({ name: 'serve', mode: 'worker', workflows: 'w.ts', demo: false });
    expect(parseCommandLine(['dev']).command).toEqual({ name: 'serve', mode: 'dev', demo: false });
  });

  it('parses start --after, repeated or comma-separated', () => {
    expect(parseCommandLine(['start', 'demo.sleep', '--after', `${runId},b`, '--after', 'c']).command).toMatchObject({ after: [runId, 'b', 'c'] });
  });

  it('parses signal with JSON data and a key; data defaults to null', () => {
    expect(parseCommandLine(['signal', runId, 'approval', '--data', '{"approved":true}', '--key', 'k1']).command).toEqual({
      name: 'signal',
      runId,
      signal: 'approval',
      data: { approved: true },
      key: 'k1',
    });
    expect(parseCommandLine(['signal', runId, 'go']).command).toEqual({ name: 'signal', runId, signal: 'go', data: null });
    expect(() => parseCommandLine(['signal', runId])).toThrow(UsageError);
    expect(() => parseCommandLine(['signal', runId, 'go', '--data', '{'])).toThrow(/--data is not valid JSON/);
  });

  it('accepts the leading -- that `pnpm cli -- runs` passes', () => {
    expect(parseCommandLine(['--', 'runs', '--limit', '5']).command).toEqual({ name: 'runs', limit: 5 });
  });

  it('parses runs filters: repeated or comma-separated statuses, limit, cursor, workflow', () => {
    expect(
      parseCommandLine(['runs', '--status', 'failed,cancelled', '--status', 'running', '--workflow', 'demo.tokens', '--cursor', 'abc']).command,
    ).toEqual({ name: 'runs', status: ['failed', 'cancelled', 'running'], workflow: 'demo.tokens', cursor: 'abc' });
  });

  it('parses the run commands and tail --from', () => {
    for (const name of ['get', 'cancel', 'retry'] as const) {
      expect(parseCommandLine([name, runId]).command).toEqual({ name, runId });
    }
    expect(parseCommandLine(['tail', runId, '--from', '12']).command).toEqual({ name: 'tail', runId, fromSeq: 12 });
    expect(parseCommandLine(['tail', runId]).command).toEqual({ name: 'tail', runId });
  });

  it('answers --help with the help command', () => {
    expect(parseCommandLine(['--help']).command).toEqual({ name: 'help' });
    expect(parseCommandLine(['runs', '-h']).command).toEqual({ name: 'help' });
    expect(parseCommandLine(['help']).command).toEqual({ name: 'help' });
  });

  it('parses the schedules actions', () => {
    expect(parseCommandLine(['schedules']).command).toEqual({ name: 'schedules', action: 'list' });
    expect(parseCommandLine(['schedules', 'pause', 'nightly']).command).toEqual({ name: 'schedules', action: 'pause', id: 'nightly' });
    expect(
      parseCommandLine([
        'schedules', 'create', 'nightly', '--cron', '0 2 * * *', '--workflow', 'demo.countdown',
        '--tz', 'Europe/Paris', '--input', '{"count":1}', '--catch-up', '3', '--paused',
      ]).command,
    ).toEqual({
      name: 'schedules',
      action: 'create',
      id: 'nightly',
      cron: '0 2 * * *',
      workflow: 'demo.countdown',
      timezone: 'Europe/Paris',
      input: { count: 1 },
      catchUp: 3,
      paused: true,
    });
    expect(parseCommandLine(['schedules', 'create', 'n', '--cron', '* * * * *', '--workflow', 'w', '--catch-up', 'skip']).command)
      .toMatchObject({ catchUp: 'skip', paused: false });
  });

  it.each([
    [['schedules', 'frob'], 'schedules: unknown action "frob"'],
    [['schedules', 'get'], 'schedules get: missing <id>'],
    [['schedules', 'create', 'n', '--workflow', 'w'], 'schedules create: missing --cron'],
    [['schedules', 'create', 'n', '--cron', '* * * * *', '--workflow', 'w', '--catch-up', 'all'], 'schedules: --catch-up must be "skip" or a whole number'],
    [[], 'no command given'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['start', '--follow'], 'start: missing <workflow> (--follow starts a run)'],
    [['start', 'demo.tokens', '--workflows', 'w.ts'], 'start: --workflows runs the server, which takes no <workflow>'],
    [['worker', 'extra'], 'worker: unexpected argument "extra"'],
    [['dev', '--input', '{}'], "dev: Unknown option '--input'"],
    [['start', 'demo.tokens', '--input', '{"text":'], '--input is not valid JSON: '],
    [['get'], 'get: missing <runId>'],
    [['get', 'a', 'b'], 'get: unexpected argument "b"'],
    [['runs', '--limit', '0'], 'runs: --limit must be a positive integer (got "0")'],
    [['runs', '--limit', 'ten'], 'runs: --limit must be a positive integer'],
    [['runs', '--status', 'done'], 'runs: --status must be one of queued, running, succeeded, failed, cancelled (got "done")'],
    [['tail', runId, '--from', '-1'], 'tail: '],
    [['workflows', '--follow'], "workflows: Unknown option '--follow'"],
    [['start', 'x', '--input'], "start: Option '--input <value>' argument missing"],
    [['workflows', '--url', 'not a url'], '--url is not a valid URL: "not a url"'],
  ])('rejects %j: %s', (argv, message) => {
    let thrown: unknown;
    try {
      parseCommandLine(argv);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toContain(message);
  });
});
