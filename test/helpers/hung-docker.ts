import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A Docker socket in front of the real engine that can be made to hang: while forwarding, every
 * connection is piped to /var/run/docker.sock; after `hang()` nothing is passed on any more, and
 * new connections are accepted and never answered (the engine as a wedged dockerd shows it).
 * `recover()` passes open connections on again, so connections kept alive by the client work.
 */
export class HungDockerSocket {
  private hanging = false;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<{ client: Socket; engine: Socket }>();

  private constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly server: ReturnType<typeof createServer>,
  ) {}

  static async start(upstream = '/var/run/docker.sock'): Promise<HungDockerSocket> {
    const dir = await mkdtemp(join(tmpdir(), 'cf-hung-docker-'));
    const path = join(dir, 'docker.sock');
    let self: HungDockerSocket | undefined;
    const server = createServer((client) => self!.accept(client, upstream));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    self = new HungDockerSocket(path, dir, server);
    return self;
  }

  private accept(client: Socket, upstream: string): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.hanging) {
      client.resume();
      return;
    }
    const engine = connect(upstream);
    const pair = { client, engine };
    this.sockets.add(engine);
    this.pairs.add(pair);
    engine.on('close', () => (this.sockets.delete(engine), this.pairs.delete(pair), client.destroy()));
    engine.on('error', () => client.destroy());
    client.on('close', () => engine.destroy());
    client.pipe(engine).pipe(client);
  }

  /** From now on nothing answers, on open connections and new ones. */
  hang(): void {
    this.hanging = true;
    for (const { client, engine } of this.pairs) {
      client.unpipe(engine);
      engine.unpipe(client);
    }
  }

  /** Answers again: open connections are passed on, new ones forwarded. */
  recover(): void {
    this.hanging = false;
    for (const { client, engine } of this.pairs) client.pipe(engine).pipe(client);
  }

  /** How many connections are open now (hung ones included). */
  get open(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
