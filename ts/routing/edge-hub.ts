import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { errorEnvelope, parseEnvelope, requestEnvelope, UPDATE_ROUTING, updateRoutingResponseSchema } from './edge-envelope.ts';
import type { RouteEntry } from './types.ts';

/** The WebSocket path edge proxies connect to on the internal server. */
export const EDGE_PATH = '/v1/edge';

export interface EdgeHubOptions {
  /** The shared edge token (COREFLOW_EDGE_TOKEN); without one every connection is refused. */
  token: string | undefined;
  log: Logger;
  /** Whether the spec has the edge sink on (routing.edge.enabled); off refuses connections with 404. */
  enabled?: () => boolean;
  /** How long an edge has to answer updateRouting before the push counts as failed. */
  responseTimeoutMs?: number;
  /** Keepalive ping interval; an edge that misses one pong is dropped. */
  pingIntervalMs?: number;
}

interface EdgeConnection {
  id: number;
  ws: WebSocket;
  /** Hash of the table last sent (and not refused): the next push only goes out when it differs. */
  sentHash?: string;
  pending: Map<string, { hash: string; timer: NodeJS.Timeout }>;
  alive: boolean;
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The edge endpoint: edge proxies connect with `Authorization: Bearer <token>` and get the
 * current table with `updateRouting` at once, then each time it changes. Each connection gets a
 * table only when its hash differs from the one it was last sent, so an edge never sees a
 * duplicate push; an edge that answers `status: "error"` (or not at all) is sent the table
 * again at the next publish.
 */
export class EdgeHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly edges = new Set<EdgeConnection>();
  private current: { routes: RouteEntry[]; hash: string } | undefined;
  private nextId = 1;
  private pinger: NodeJS.Timeout | undefined;

  constructor(private readonly opts: EdgeHubOptions) {
    const every = opts.pingIntervalMs ?? 30_000;
    this.pinger = setInterval(() => {
      for (const e of this.edges) {
        if (!e.alive) {
          e.ws.terminate();
          continue;
        }
        e.alive = false;
        e.ws.ping();
      }
    }, every).unref();
  }

  get connections(): number {
    return this.edges.size;
  }

  /** The internal server's upgrade handler for EDGE_PATH. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.opts.enabled && !this.opts.enabled()) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!this.opts.token || !given || !tokenMatches(given, this.opts.token)) {
      const e = new CoreflowError('COREFLOW_ERR_EDGE_UNAUTHORIZED', { details: this.opts.token ? 'wrong or missing token' : 'COREFLOW_EDGE_TOKEN is not set on the agent' });
      this.opts.log.warn({ remote: req.socket.remoteAddress, code: e.code, err: e.message }, 'edge connection refused');
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  };

  /** Makes `routes` the current table and sends it to every edge that does not have it yet. */
  publish(routes: RouteEntry[], hash: string): void {
    this.current = { routes, hash };
    for (const e of this.edges) this.send(e);
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const e: EdgeConnection = { id: this.nextId++, ws, pending: new Map(), alive: true };
    this.edges.add(e);
    const log = this.opts.log.child({ edge: e.id });
    log.info({ remote: req.socket.remoteAddress }, 'edge connected');
    ws.on('pong', () => (e.alive = true));
    ws.on('message', (data) => this.onMessage(e, String(data), log));
    ws.on('close', () => {
      for (const p of e.pending.values()) clearTimeout(p.timer);
      this.edges.delete(e);
      log.info('edge disconnected');
    });
    ws.on('error', (err) => log.warn({ err: errorText(err) }, 'edge connection error'));
    this.send(e);
  }

  private send(e: EdgeConnection): void {
    const cur = this.current;
    if (!cur || e.sentHash === cur.hash || e.ws.readyState !== WebSocket.OPEN) return;
    const env = requestEnvelope(UPDATE_ROUTING, { reverseConfigs: cur.routes });
    e.sentHash = cur.hash;
    const timer = setTimeout(() => {
      e.pending.delete(env.correlation.id);
      if (e.sentHash === cur.hash) e.sentHash = undefined;
      this.opts.log.warn({ edge: e.id, hash: cur.hash }, 'edge did not answer updateRouting in time; it gets the table again at the next publish');
    }, this.opts.responseTimeoutMs ?? 10_000);
    timer.unref();
    e.pending.set(env.correlation.id, { hash: cur.hash, timer });
    e.ws.send(JSON.stringify(env));
    // Hostnames and counts only: the routes carry private keys.
    this.opts.log.info({ edge: e.id, hash: cur.hash, routes: cur.routes.length }, 'updateRouting sent');
  }

  private onMessage(e: EdgeConnection, data: string, log: Logger): void {
    const env = parseEnvelope(data);
    if (!env) {
      log.warn('unreadable frame from edge ignored');
      return;
    }
    if (env.correlation.phase === 'request') {
      // Edges only answer; they have no methods to call on the agent here.
      const err = new CoreflowError('COREFLOW_ERR_EDGE_METHOD', { method: env.method });
      e.ws.send(JSON.stringify(errorEnvelope(env, err.message, err.code)));
      return;
    }
    const pending = e.pending.get(env.correlation.id);
    if (!pending) return;
    clearTimeout(pending.timer);
    e.pending.delete(env.correlation.id);
    const answer = updateRoutingResponseSchema.safeParse(env.response);
    const failed = env.error ? env.error.text : !answer.success ? 'unreadable response' : answer.data.status === 'error' ? (answer.data.errorText ?? 'no reason given') : undefined;
    if (failed === undefined) {
      log.debug({ hash: pending.hash }, 'edge applied the table');
      return;
    }
    if (e.sentHash === pending.hash) e.sentHash = undefined;
    log.warn({ hash: pending.hash, error: failed }, 'edge refused updateRouting; it gets the table again at the next publish');
  }

  /** Closes every edge connection (the edge sink was turned off in the spec). */
  closeAll(reason: string): void {
    for (const e of this.edges) e.ws.close(1000, reason);
  }

  async stop(): Promise<void> {
    clearInterval(this.pinger);
    this.pinger = undefined;
    for (const e of this.edges) e.ws.close(1001, 'agent stopping');
    this.edges.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}
