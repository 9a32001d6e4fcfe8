import { runCli } from './cli.js';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('interrupted')));
process.once('SIGTERM', () => controller.abort(new Error('terminated')));

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  signal: controller.signal,
  async serve(options) {
    // Runs in this process; it exits through the server's own signal handling, never by returning.
    const { runServerProcess } = await import('@runstream/server/process');
    await runServerProcess(options);
    return new Promise<number>(() => {});
  },
});
// Idle keep-alive sockets must not hold the process open once the command is done.
process.stdout.write('', () => process.exit(code));
