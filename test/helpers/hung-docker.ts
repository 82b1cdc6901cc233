import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A Docker socket in front of the real engine that can be made to hang: while forwarding, every
 * connection is piped to /var/run/docker.sock; after `hang()`, open connections are dropped and
 * new ones are accepted and never answered (the engine as a wedged dockerd shows it).
 */
export class HungDockerSocket {
  private hanging = false;
  private readonly sockets = new Set<Socket>();

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
    this.sockets.add(engine);
    engine.on('close', () => (this.sockets.delete(engine), client.destroy()));
    engine.on('error', () => client.destroy());
    client.on('close', () => engine.destroy());
    client.pipe(engine).pipe(client);
  }

  /** From now on nothing answers; connections kept alive by the client are dropped. */
  hang(): void {
    this.hanging = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Forwards new connections to the engine again. */
  recover(): void {
    this.hanging = false;
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
