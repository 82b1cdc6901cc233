import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorText } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import { Router, sendJson } from './http-router.ts';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ReadinessCheck {
  name: string;
  /** Resolves to true when ready; a reason string when not. */
  check: () => Promise<true | string> | true | string;
}

/** How long /readyz waits for its checks unless told otherwise (COREFLOW_READY_TIMEOUT_MS). */
export const DEFAULT_READY_TIMEOUT_MS = 2000;

/** A check's outcome, or the reason it failed: a throw, or no answer within `ms`. */
async function withDeadline(check: ReadinessCheck['check'], ms: number): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms)));
  try {
    return await Promise.race([Promise.resolve().then(check).catch((err: unknown) => errorText(err)), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The agent's internal server (default port 3000): /healthz (the process is up), /readyz (every
 * readiness check passes; the checks run at once and each has readyTimeoutMs to answer, so /readyz
 * answers within that deadline, 503 naming what failed or did not answer), plus the routes and WebSocket endpoints other parts register. It starts
 * first and stops last.
 */
export class InternalServer implements Lifecycle {
  readonly name = 'internal-server';
  readonly router = new Router();
  private readonly upgrades = new Map<string, UpgradeHandler>();
  private readonly readiness: ReadinessCheck[] = [];
  private server: Server | undefined;

  constructor(
    private readonly opts: { host: string; port: number; readyTimeoutMs?: number },
    private readonly log: Logger,
  ) {
    this.router.add('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    this.router.add('GET', '/readyz', async (_req, res) => {
      const deadlineMs = this.opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
      const failing: Record<string, string> = {};
      await Promise.all(
        this.readiness.map(async (r) => {
          const ok = await withDeadline(r.check, deadlineMs);
          if (ok !== true) failing[r.name] = ok;
        }),
      );
      const ready = Object.keys(failing).length === 0;
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', ...(ready ? {} : { failing }) });
    });
  }

  addReadiness(check: ReadinessCheck): void {
    this.readiness.push(check);
  }

  /** A WebSocket (or other upgrade) endpoint at an exact path. */
  onUpgrade(path: string, handler: UpgradeHandler): void {
    this.upgrades.set(path, handler);
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.router.handle(req, res));
    server.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const handler = this.upgrades.get(path);
      if (!handler) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      handler(req, socket, head);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this.log.info({ host: this.opts.host, port: this.port }, 'internal server listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
