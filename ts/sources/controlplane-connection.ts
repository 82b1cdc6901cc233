import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import { authRetryDelay, exponentialMs } from '../backoff.ts';
import { CoreflowError, errorText, isCoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { CLOSE_CODES, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../protocol/envelope.ts';
import { methods, type Identity } from '../protocol/methods.ts';
import { Peer, remoteCode } from '../protocol/peer.ts';

/** An authenticated connection to the control plane. */
export interface Session {
  peer: Peer<typeof methods>;
  identity: Identity;
}

export interface ConnectionOptions {
  /** CLOUDLY_URL; http(s) is mapped to ws(s), an empty path becomes /v1/agent. */
  url: string;
  /** JUMPCODE: never logged. */
  token: string;
  caFile?: string;
  log: Logger;
  reconnectMaxMs: number;
  pingIntervalMs: number;
  authRetryMs: number;
  /** A connection that stayed authenticated this long was healthy (default HEALTHY_AFTER_MS). */
  healthyAfterMs?: number;
}

export interface ConnectionHooks {
  /** A new connection's peer, before it authenticates: register the methods served to the control plane. */
  serve(peer: Peer<typeof methods>): void;
  /** Authenticated: what each new session does first (fetch the config, send a pending report). */
  established(session: Session): Promise<void>;
  /** A dial ended: established, refused or failed. */
  settled(): void;
}

/** The first reconnect delay after a healthy connection was lost, before jitter. */
export const RECONNECT_BASE_MS = 500;
/** The delay ceiling grows by 1 ms per this many ms of outage: 6.5 s after a minute, 60 s after ten. */
export const RECONNECT_RAMP = 10;
/** How long stop() waits for the control plane to answer the closing handshake. */
const CLOSE_WAIT_MS = 1000;
/** A connection that stayed authenticated this long was healthy: its loss starts the backoff afresh. */
export const HEALTHY_AFTER_MS = 5000;

/**
 * The delay before reconnect attempt `attempt` (0: the first) of an outage that has lasted
 * `outageMs`: exponential from RECONNECT_BASE_MS, but never above a ceiling that grows with the
 * outage (RECONNECT_BASE_MS + outageMs / RECONNECT_RAMP), nor above `capMs`; then jitter, a random
 * factor in [0.5, 1], so agents do not dial in lockstep. So the first retries are quick, an agent
 * is back within seconds of a control plane that was down for a minute, and the cap is reached
 * only after a sustained outage. Pure given `random`.
 */
export function reconnectDelay(attempt: number, outageMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, RECONNECT_BASE_MS + Math.max(0, outageMs) / RECONNECT_RAMP);
  return Math.round(Math.min(exponentialMs(attempt, RECONNECT_BASE_MS, capMs), ceiling) * (0.5 + random() * 0.5));
}

/** The agent's WebSocket URL for a CLOUDLY_URL. */
export function agentUrl(raw: string): string {
  const url = new URL(raw);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/agent';
  return url.toString();
}

/**
 * The agent's link to its control plane: dials (outbound only), authenticates with the machine
 * token, and redials after every loss: on the reconnect schedule (reconnectDelay) after a lost
 * connection or a failed dial, on the slow schedule (authRetryDelay) after a refused token or
 * protocol version. Refusals are logged as errors with their code.
 */
export class ControlPlaneConnection {
  private socket: WebSocket | undefined;
  private current: Session | undefined;
  private authenticatedAt: number | undefined;
  private attempt = 0;
  private outageSince = Date.now();
  private authFailures = 0;
  private refused: CoreflowError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ca: string[] | undefined;
  private readonly url: string;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.url = agentUrl(opts.url);
  }

  get session(): Session | undefined {
    return this.current;
  }

  /** Reads the CA file (COREFLOW_CA_FILE), then dials; throws COREFLOW_ERR_CONFIG_INVALID for an unusable CA file. */
  async start(): Promise<void> {
    const { caFile } = this.opts;
    if (caFile) {
      const pem = await readFile(caFile, 'utf8').catch((err: unknown) => {
        throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details: `  - COREFLOW_CA_FILE (--ca-file): cannot read ${caFile}: ${errorText(err)}` });
      });
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details: `  - COREFLOW_CA_FILE (--ca-file): ${caFile} holds no PEM certificate` });
      }
      this.ca = [...rootCertificates, pem];
    }
    this.outageSince = Date.now();
    this.dial();
  }

  /**
   * Dials no more and closes the connection: a goodbye (1001) when it is open, waiting at most
   * CLOSE_WAIT_MS for the control plane's answer; a connection still being set up is dropped.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    if (!socket || socket.readyState === socket.CLOSED) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (socket.readyState === socket.OPEN) {
      socket.close(CLOSE_CODES.shutdown, 'agent stopping');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
    }
    socket.terminate();
    await closed;
  }

  private dial(): void {
    if (this.stopped) return;
    const { log } = this.opts;
    log.info({ url: this.url, attempt: this.attempt }, 'dialling the control plane');
    const socket = new WebSocket(this.url, { maxPayload: MAX_FRAME_BYTES, handshakeTimeout: 10_000, ...(this.ca ? { ca: this.ca } : {}) });
    this.socket = socket;
    socket.on('error', (err) => log.warn({ err: errorText(err) }, 'control plane connection error'));
    socket.on('open', () => void this.authenticate(socket));
    socket.on('close', (code, reason) => {
      if (this.socket === socket) this.socket = undefined;
      const healthy = this.authenticatedAt !== undefined && Date.now() - this.authenticatedAt >= (this.opts.healthyAfterMs ?? HEALTHY_AFTER_MS);
      this.current = undefined;
      this.authenticatedAt = undefined;
      if (code === CLOSE_CODES.auth) this.refused ??= new CoreflowError('COREFLOW_ERR_AUTH', { details: `closed with ${code} ${reason.toString('utf8')}` });
      if (code === CLOSE_CODES.version) this.refused ??= new CoreflowError('COREFLOW_ERR_PROTOCOL_VERSION', { ours: PROTOCOL_VERSION, theirs: `unknown (closed with ${code} ${reason.toString('utf8')})` });
      this.hooks.settled();
      if (healthy) {
        this.attempt = 0;
        this.outageSince = Date.now();
      }
      this.redial(code);
    });
  }

  private redial(closeCode: number): void {
    if (this.stopped) return;
    const { log } = this.opts;
    const refused = this.refused;
    this.refused = undefined;
    let delay: number;
    if (refused) {
      delay = authRetryDelay(this.authFailures++, this.opts.authRetryMs);
      log.error({ code: refused.code, retryInMs: delay, failures: this.authFailures }, `control plane refused this agent: ${refused.message}; retrying later`);
    } else {
      delay = reconnectDelay(this.attempt++, Date.now() - this.outageSince, this.opts.reconnectMaxMs);
      log.warn({ attempt: this.attempt, retryInMs: delay, closeCode }, 'control plane connection lost; reconnecting');
    }
    this.timer = setTimeout(() => this.dial(), delay);
  }

  private async authenticate(socket: WebSocket): Promise<void> {
    const { log } = this.opts;
    const peer = new Peer(socket, { methods, log, pingIntervalMs: this.opts.pingIntervalMs });
    this.hooks.serve(peer);
    try {
      const who = await peer.request('getIdentityByToken', { token: this.opts.token, protocolVersion: PROTOCOL_VERSION, agent: { hostname: hostname() } });
      if (who.protocolVersion !== PROTOCOL_VERSION) {
        this.refused = new CoreflowError('COREFLOW_ERR_PROTOCOL_VERSION', { ours: PROTOCOL_VERSION, theirs: who.protocolVersion });
        peer.close(CLOSE_CODES.version, 'protocol version mismatch');
        return;
      }
      const session = { peer, identity: who.identity };
      this.current = session;
      this.authenticatedAt = Date.now();
      this.authFailures = 0;
      log.info({ identity: who.identity }, 'authenticated with the control plane');
      await this.hooks.established(session);
    } catch (err) {
      const code = remoteCode(err);
      const text = isCoreflowError(err) ? String(err.params.details ?? err.message) : errorText(err);
      if (code === 'COREFLOW_ERR_AUTH') this.refused = new CoreflowError('COREFLOW_ERR_AUTH', { details: text });
      else if (code === 'COREFLOW_ERR_PROTOCOL_VERSION') this.refused = new CoreflowError('COREFLOW_ERR_PROTOCOL_VERSION', { ours: PROTOCOL_VERSION, theirs: text });
      else log.warn({ err: errorText(err) }, 'control plane session failed');
      peer.close(this.refused ? CLOSE_CODES.auth : CLOSE_CODES.policy, 'session failed');
    } finally {
      this.hooks.settled();
    }
  }
}
