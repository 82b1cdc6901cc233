import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CoreflowError, errorText, isCoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { bearerMatches } from '../server/bearer-auth.ts';
import { CLOSE_CODES, MAX_FRAME_BYTES } from '../protocol/envelope.ts';
import { edgeMethods } from '../protocol/methods.ts';
import { Peer, remoteCode } from '../protocol/peer.ts';
import type { RouteEntry } from './types.ts';

/** The WebSocket path edge proxies connect to on the internal server. */
export const EDGE_PATH = '/v1/edge';

export interface EdgeHubOptions {
  /** The shared edge token (COREFLOW_EDGE_TOKEN); without one every connection is refused. */
  token: string | undefined;
  log: Logger;
  /**
   * Whether the spec has the edge sink on (routing.edge.enabled): off refuses connections that
   * hold the right token with 404; undefined (no desired state yet) accepts them, and they get
   * the table once there is one. A wrong token gets 401 whatever this says.
   */
  enabled?: () => boolean | undefined;
  /** How long an edge has to answer updateRouting before the push counts as failed (default: the method's 10 s). */
  responseTimeoutMs?: number;
  /** Keepalive ping interval of each edge's Peer (COREFLOW_PING_INTERVAL_MS); an edge silent for two is dropped. */
  pingIntervalMs?: number;
}

interface EdgeConnection {
  id: number;
  peer: Peer<typeof edgeMethods>;
  log: Logger;
  /** Hash of the table last sent (and not refused): the next push only goes out when it differs. */
  sentHash?: string;
}

/**
 * The edge endpoint: edge proxies connect with `Authorization: Bearer <token>` (see
 * server/bearer-auth.ts) and get the current table with `updateRouting` at once, then each time it changes. Each connection is one
 * protocol Peer (ts/protocol/peer.ts) with the edge method table, so framing, validation, size
 * limits, timeouts and keepalive are the control-plane link's. Each connection gets a table only
 * when its hash differs from the one it was last sent, so an edge never sees a duplicate push; an
 * edge that answers `status: "error"`, an error, or nothing in time is sent the table again at
 * the next publish.
 */
export class EdgeHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private readonly edges = new Set<EdgeConnection>();
  private current: { routes: RouteEntry[]; hash: string } | undefined;
  private nextId = 1;

  constructor(private readonly opts: EdgeHubOptions) {}

  get connections(): number {
    return this.edges.size;
  }

  /** The internal server's upgrade handler for EDGE_PATH. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!bearerMatches(req.headers.authorization, this.opts.token)) {
      const e = new CoreflowError('COREFLOW_ERR_EDGE_UNAUTHORIZED', { details: this.opts.token ? 'wrong or missing token' : 'COREFLOW_EDGE_TOKEN is not set on the agent' });
      this.opts.log.warn({ remote: req.socket.remoteAddress, code: e.code, err: e.message }, 'edge connection refused');
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.opts.enabled?.() === false) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
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
    const id = this.nextId++;
    const log = this.opts.log.child({ edge: id });
    // No handlers: edges only answer; a request from an edge gets COREFLOW_ERR_UNKNOWN_METHOD.
    const peer = new Peer(ws, { methods: edgeMethods, log, pingIntervalMs: this.opts.pingIntervalMs ?? 15_000 });
    const e: EdgeConnection = { id, peer, log };
    this.edges.add(e);
    log.info({ remote: req.socket.remoteAddress }, 'edge connected');
    peer.onClosed((code) => {
      this.edges.delete(e);
      log.info({ code }, 'edge disconnected');
    });
    this.send(e);
  }

  private send(e: EdgeConnection): void {
    const cur = this.current;
    if (!cur || e.sentHash === cur.hash || e.peer.closed) return;
    e.sentHash = cur.hash;
    // The hash and a count only: the routes carry private keys.
    e.log.info({ hash: cur.hash, routes: cur.routes.length }, 'sending updateRouting');
    e.peer.request('updateRouting', { reverseConfigs: cur.routes }, this.opts.responseTimeoutMs).then(
      (answer) => {
        if (answer.status === 'ok') return void e.log.debug({ hash: cur.hash }, 'edge applied the table');
        this.failed(e, cur.hash, answer.errorText ?? 'no reason given');
      },
      (err: unknown) => this.failed(e, cur.hash, errorText(err), isCoreflowError(err) ? remoteCode(err) || err.code : undefined),
    );
  }

  /** The edge does not have `hash` after all: it gets the table again at the next publish. */
  private failed(e: EdgeConnection, hash: string, reason: string, code?: string): void {
    if (e.sentHash === hash) e.sentHash = undefined;
    if (e.peer.closed) return;
    e.log.warn({ hash, error: reason, ...(code ? { code } : {}) }, 'edge did not apply updateRouting; it gets the table again at the next publish');
  }

  /** Closes every edge connection (the edge sink was turned off in the spec). */
  closeAll(reason: string): void {
    for (const e of this.edges) e.peer.close(1000, reason);
  }

  async stop(): Promise<void> {
    for (const e of this.edges) e.peer.close(CLOSE_CODES.shutdown, 'agent stopping');
    this.edges.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}
