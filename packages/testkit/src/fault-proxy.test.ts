import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

// The proxy between a client and a real TCP echo server on loopback; every wait is on a socket event or a counter.
let echo: Server;
let received: number;
const echoSockets = new Set<Socket>();
let proxy: FaultProxy;
const clients: Socket[] = [];

beforeEach(async () => {
  received = 0;
  echo = createServer((socket) => {
    echoSockets.add(socket);
    socket.on('data', (chunk) => {
      received += chunk.length;
      socket.write(chunk);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  proxy = await startFaultProxy({ host: '127.0.0.1', port: (echo.address() as { port: number }).port });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await proxy.close();
  for (const socket of echoSockets) socket.destroy();
  echoSockets.clear();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy.port, proxy.host, () => resolve(socket));
    socket.once('error', reject);
    clients.push(socket);
  });
}

function reply(socket: Socket, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.length >= bytes) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(text)}`)));
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

async function until(probe: () => boolean): Promise<void> {
  while (!probe()) await new Promise((resolve) => setImmediate(resolve));
}

describe('fault proxy', () => {
  it('forwards both ways', async () => {
    const socket = await open();
    socket.write('hello');
    expect(await reply(socket, 5)).toBe('hello');
    expect(proxy.openConnections()).toBe(1);
  });

  it('cut() destroys every connection; new ones go through', async () => {
    const [a, b] = [await open(), await open()];
    a.on('error', () => {});
    b.on('error', () => {});
    await until(() => proxy.openConnections() === 2);
    proxy.cut();
    await Promise.all([closed(a), closed(b)]);
    expect(proxy.openConnections()).toBe(0);
    const c = await open();
    c.write('again');
    expect(await reply(c, 5)).toBe('again');
  });

  it('stall() holds bytes without closing; resume() forwards them in order', async () => {
    const socket = await open();
    proxy.stall();
    socket.write('one,');
    socket.write('two');
    await until(() => proxy.heldBytes() === 7);
    expect(received).toBe(0);
    expect(socket.destroyed).toBe(false);
    const answer = reply(socket, 7);
    proxy.resume();
    expect(await answer).toBe('one,two');
    expect(proxy.heldBytes()).toBe(0);
  });

  it('delay(ms) holds each chunk at least that long', async () => {
    const socket = await open();
    proxy.delay(50);
    const started = performance.now();
    socket.write('slow');
    expect(await reply(socket, 4)).toBe('slow');
    // Once each way.
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    proxy.delay(0);
    expect(() => proxy.delay(-1)).toThrow(RangeError);
  });

  it('refuse() resets new connections and leaves open ones; accept() lets them in again', async () => {
    const kept = await open();
    proxy.refuse();
    const refused = connect(proxy.port, proxy.host);
    clients.push(refused);
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      refused.once('error', resolve);
      refused.once('close', () => resolve(undefined));
    });
    expect(error?.code ?? 'closed').toMatch(/ECONNRESET|closed/);
    expect(proxy.acceptedConnections()).toBe(2);
    kept.write('still');
    expect(await reply(kept, 5)).toBe('still');
    proxy.accept();
    const later = await open();
    later.write('in');
    expect(await reply(later, 2)).toBe('in');
  });

  it('urlThrough() points a URL at the proxy', () => {
    expect(proxy.urlThrough('postgres://postgres@127.0.0.1:5432/db?x=1')).toBe(`postgres://postgres@127.0.0.1:${proxy.port}/db?x=1`);
  });
});
