import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between a process and one of its dependencies (PostgreSQL, Redis) that the test drives: cut every
 * connection, stall the bytes in flight, slow them down, refuse new connections. Nothing happens on its own (no
 * randomness, no timers but the delay the test asks for), so a scenario replays the same way every time.
 */
export interface FaultProxy {
  /** Where the proxy listens: 127.0.0.1 and an ephemeral port. */
  readonly host: string;
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's (`postgres://…`, `redis://…`). */
  urlThrough(url: string): string;
  /** Destroys every open connection, both sides (a reset for the client). New connections still go through. */
  cut(): void;
  /** Stops forwarding bytes, both ways, without closing anything: they are held until `resume()`. */
  stall(): void;
  /** Forwards everything held during a stall, in order, and carries on. */
  resume(): void;
  /** Holds each chunk this long before forwarding it (order kept); 0 turns the delay off. */
  delay(ms: number): void;
  /** Resets every new connection as soon as it is accepted (open ones are left alone: `cut()` them). */
  refuse(): void;
  /** Lets new connections through again. */
  accept(): void;
  /** Connections open through the proxy now. */
  openConnections(): number;
  /** Connections accepted so far (refused ones included). */
  acceptedConnections(): number;
  /** Bytes received and not yet forwarded (held by a stall or a delay). */
  heldBytes(): number;
  /** Cuts everything and stops listening. */
  close(): Promise<void>;
}

/** One direction of a connection: chunks waiting their turn, forwarded one at a time. */
class Lane {
  private readonly queue: Buffer[] = [];
  private pumping = false;

  constructor(
    private readonly to: Socket,
    private readonly faults: { stalled: () => boolean; delayMs: () => number; held: (bytes: number) => void },
  ) {}

  push(chunk: Buffer): void {
    this.queue.push(chunk);
    this.faults.held(chunk.length);
    this.pump();
  }

  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.drain().finally(() => {
      this.pumping = false;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.faults.stalled()) {
      const delayMs = this.faults.delayMs();
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      // A stall that began during the delay holds this chunk too.
      if (this.faults.stalled()) return;
      const chunk = this.queue.shift()!;
      this.faults.held(-chunk.length);
      if (!this.to.destroyed) this.to.write(chunk);
    }
  }

  discard(): void {
    for (const chunk of this.queue.splice(0)) this.faults.held(-chunk.length);
  }
}

interface Pair {
  client: Socket;
  upstream: Socket;
  lanes: Lane[];
}

/** Starts a proxy to `target` on 127.0.0.1, an ephemeral port. Close it in the test's teardown. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let stalled = false;
  let delayMs = 0;
  let refusing = false;
  let accepted = 0;
  let held = 0;
  const faults = { stalled: () => stalled, delayMs: () => delayMs, held: (bytes: number) => (held += bytes) };

  const destroy = (pair: Pair) => {
    if (!pairs.delete(pair)) return;
    for (const lane of pair.lanes) lane.discard();
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    pair.upstream.destroy();
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, upstream, lanes: [new Lane(upstream, faults), new Lane(client, faults)] };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => pair.lanes[0]!.push(chunk));
    upstream.on('data', (chunk: Buffer) => pair.lanes[1]!.push(chunk));
    for (const socket of [client, upstream]) {
      socket.on('error', () => destroy(pair));
      socket.on('close', () => destroy(pair));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the fault proxy has no TCP address');
  const port = address.port;

  return {
    host: '127.0.0.1',
    port,
    urlThrough(url) {
      const through = new URL(url);
      through.hostname = '127.0.0.1';
      through.port = String(port);
      return through.toString();
    },
    cut() {
      for (const pair of [...pairs]) destroy(pair);
    },
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const pair of pairs) for (const lane of pair.lanes) lane.pump();
    },
    delay(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('the delay must be a non-negative number of ms');
      delayMs = ms;
    },
    refuse() {
      refusing = true;
    },
    accept() {
      refusing = false;
    },
    openConnections: () => pairs.size,
    acceptedConnections: () => accepted,
    heldBytes: () => held,
    async close() {
      for (const pair of [...pairs]) destroy(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
