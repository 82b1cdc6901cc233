import { readFile } from 'node:fs/promises';
import type { CoreflowConfig } from '../config/config.ts';
import { hostname } from 'node:os';
import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import { CoreflowError, errorText, isCoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { CLOSE_CODES, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../protocol/envelope.ts';
import { methods, type Identity, type ResponseOf, type StatusReport } from '../protocol/methods.ts';
import { Peer, remoteCode } from '../protocol/peer.ts';
import type { RunResult } from '../reconcile/types.ts';
import { specErrors } from '../spec/parse.ts';
import { authRetryDelay, backoffDelay } from '../backoff.ts';
import type { DesiredState } from './desired-state.ts';
import { SavedConfig } from './saved-config.ts';
import { statusReport } from './status-report.ts';
import { buildStatus, type AgentStatus } from '../observe/status.ts';
import type { TaskCount } from '../controllers/task-health.ts';
import type { CertificateProvider } from '../routing/certificates.ts';

export interface ControlPlaneSourceOptions {
  /** CLOUDLY_URL; http(s) is mapped to ws(s), an empty path becomes /v1/agent. */
  url: string;
  /** JUMPCODE: never logged. */
  token: string;
  caFile?: string;
  stateDir: string;
  desired: DesiredState;
  log: Logger;
  reconnectMaxMs: number;
  pingIntervalMs: number;
  authRetryMs: number;
  /** How long start() waits for the control plane's config before falling back to the saved one. */
  firstConfigWaitMs?: number;
  /** Running tasks per service for reports, as task health last saw them (optional). */
  taskCounts?: () => Record<string, TaskCount>;
  /** The agent's three-axis status (/v1/status) for reports; without it, the status the last run alone gives. */
  status?: () => AgentStatus;
  /** Health reports between runs: at most one per this many ms (default 5000). */
  healthReportIntervalMs?: number;
}

/** How long a health change waits for more changes before it is reported. */
const HEALTH_COALESCE_MS = 250;

/** What a report's status says, without the time it was made: equal keys need no new report. */
function statusKey(s: AgentStatus): string {
  return JSON.stringify([s.overall, s.objects]);
}

type PushAnswer = ResponseOf<'pushClusterConfig'>;

/** The agent's WebSocket URL for a CLOUDLY_URL. */
export function agentUrl(raw: string): string {
  const url = new URL(raw);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/agent';
  return url.toString();
}

/**
 * Control-plane mode's source of desired state: dials the control plane (outbound only),
 * authenticates with the machine token, fetches the config on every connect and accepts pushes.
 * Every accepted config is saved atomically in the state directory and offered to the desired
 * state; a rejected one is answered with every error and changes nothing. A lost connection
 * changes nothing either: the last accepted config stays in force until a new one is accepted.
 */
export class ControlPlaneSource implements CertificateProvider {
  private peer: Peer<typeof methods> | undefined;
  private socket: WebSocket | undefined;
  private identity: Identity | undefined;
  private attempt = 0;
  private authFailures = 0;
  private rejected: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ca: string[] | undefined;
  private readonly saved: SavedConfig;
  private saving: Promise<unknown> = Promise.resolve();
  private unsentReport: StatusReport | undefined;
  private lastResult: RunResult | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private lastReportAt = 0;
  private lastStatusKey: string | undefined;
  private firstOutcome: (() => void) | undefined;
  private readonly url: string;

  constructor(private readonly opts: ControlPlaneSourceOptions) {
    this.saved = new SavedConfig(opts.stateDir, opts.desired.reader);
    this.url = agentUrl(opts.url);
  }

  get connected(): boolean {
    return this.identity !== undefined;
  }

  /**
   * Starts dialling and waits for the first outcome (a config, a failure, or firstConfigWaitMs).
   * Without a config from the control plane by then, the saved config (if any) is put in force.
   */
  async start(): Promise<void> {
    const { log } = this.opts;
    if (this.opts.caFile) {
      const pem = await readFile(this.opts.caFile, 'utf8').catch((err: unknown) => {
        throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details: `  - COREFLOW_CA_FILE (--ca-file): cannot read ${this.opts.caFile}: ${errorText(err)}` });
      });
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details: `  - COREFLOW_CA_FILE (--ca-file): ${this.opts.caFile} holds no PEM certificate` });
      }
      this.ca = [...rootCertificates, pem];
    }
    const first = new Promise<void>((resolve) => (this.firstOutcome = resolve));
    this.connect();
    const wait = this.opts.firstConfigWaitMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, wait)))]);
    clearTimeout(timer);
    if (this.opts.desired.get()) return;
    try {
      const loaded = await this.saved.load();
      if (!loaded) {
        log.warn({ path: this.saved.path }, 'no config from the control plane yet and no saved config; waiting for the control plane');
        return;
      }
      if (this.opts.desired.get()) return;
      this.opts.desired.offer(loaded, `saved config ${this.saved.path}`);
      log.warn({ specHash: loaded.hash, path: this.saved.path }, 'control plane unreachable; reconciling from the saved config');
    } catch (err) {
      const errors = isCoreflowError(err, 'COREFLOW_ERR_SPEC_INVALID') ? specErrors(err) : [errorText(err)];
      log.error({ path: this.saved.path, errors }, 'the saved config is unusable; waiting for the control plane');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.healthTimer);
    this.peer?.close(CLOSE_CODES.shutdown, 'agent stopping');
    if (this.socket && this.socket.readyState === this.socket.CONNECTING) this.socket.terminate();
    await this.saving.catch(() => undefined);
  }

  /** Sends a run's report; kept (only the newest) until a connection is up when there is none. */
  report(result: RunResult): void {
    if (result.dryRun) return;
    this.lastResult = result;
    // This report carries the newest status: a pending health report would only repeat it.
    clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
    this.send('run', result);
  }

  /**
   * The agent's status changed between runs (a service's health): reports it, coalesced: after
   * a short quiet time, at most one per healthReportIntervalMs, and only when the status differs
   * from the last one reported. Nothing before the first run (its report carries the status).
   */
  statusChanged(): void {
    if (this.stopped || !this.lastResult || this.healthTimer) return;
    const interval = this.opts.healthReportIntervalMs ?? 5000;
    const wait = Math.max(HEALTH_COALESCE_MS, this.lastReportAt + interval - Date.now());
    this.healthTimer = setTimeout(() => {
      this.healthTimer = undefined;
      if (this.lastResult && !this.stopped) this.send('health', this.lastResult);
    }, wait);
  }

  private send(reason: StatusReport['reason'], result: RunResult): void {
    const counts = this.opts.taskCounts?.() ?? {};
    const status = this.opts.status?.() ?? buildStatus({ result, health: new Map(), busy: false, waiting: new Set() });
    const key = statusKey(status);
    if (reason === 'health' && key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    this.lastReportAt = Date.now();
    this.unsentReport = statusReport(reason, result, status, counts);
    this.flushReport();
  }

  /**
   * Routing's certificate provider: the control plane's getCertificateForDomain. Undefined when
   * the control plane has none for the domain; throws when it cannot answer (not connected...).
   */
  async getCertificateForDomain(domain: string): Promise<{ publicKey: string; privateKey: string } | undefined> {
    const peer = this.peer;
    if (!peer || !this.identity) throw new CoreflowError('COREFLOW_ERR_PEER_CLOSED', { method: 'getCertificateForDomain' });
    try {
      const cert = await peer.request('getCertificateForDomain', { domain });
      return { publicKey: cert.certPem, privateKey: cert.keyPem };
    } catch (err) {
      if (remoteCode(err) === 'COREFLOW_ERR_NO_CERTIFICATE') return undefined;
      throw err;
    }
  }

  private flushReport(): void {
    const report = this.unsentReport;
    const peer = this.peer;
    if (!report || !peer || !this.identity) return;
    this.unsentReport = undefined;
    peer.request('reportStatus', report).catch((err: unknown) => this.opts.log.warn({ err: errorText(err), runId: report.run.runId }, 'status report not delivered'));
  }

  private connect(): void {
    if (this.stopped) return;
    const { log } = this.opts;
    log.info({ url: this.url, attempt: this.attempt }, 'dialling the control plane');
    const socket = new WebSocket(this.url, {
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      ...(this.ca ? { ca: this.ca } : {}),
    });
    this.socket = socket;
    socket.on('error', (err) => log.warn({ err: errorText(err) }, 'control plane connection error'));
    socket.on('open', () => void this.session(socket));
    socket.on('close', (code, reason) => {
      if (this.socket === socket) this.socket = undefined;
      this.peer = undefined;
      this.identity = undefined;
      if (code === CLOSE_CODES.auth || code === CLOSE_CODES.version) this.rejected ??= `closed by the control plane (${code} ${reason.toString('utf8')})`;
      this.firstOutcome?.();
      this.scheduleReconnect(code);
    });
  }

  private scheduleReconnect(code: number): void {
    if (this.stopped) return;
    const { log } = this.opts;
    if (this.rejected) {
      const delay = authRetryDelay(this.authFailures++, this.opts.authRetryMs);
      log.error({ retryInMs: delay, failures: this.authFailures }, `control plane refused this agent: ${this.rejected}; retrying later`);
      this.rejected = undefined;
      this.timer = setTimeout(() => this.connect(), delay);
      return;
    }
    const delay = backoffDelay(this.attempt++, { baseMs: 1000, capMs: this.opts.reconnectMaxMs });
    log.warn({ attempt: this.attempt, retryInMs: delay, closeCode: code }, 'control plane connection lost; reconnecting');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private async session(socket: WebSocket): Promise<void> {
    const { log } = this.opts;
    const peer = new Peer(socket, { methods, log, pingIntervalMs: this.opts.pingIntervalMs });
    this.peer = peer;
    peer.handle('pushClusterConfig', (req) => this.accept(req.spec, `control plane push${req.reason ? ` (${req.reason})` : ''}`));
    try {
      const who = await peer.request('getIdentityByToken', { token: this.opts.token, protocolVersion: PROTOCOL_VERSION, agent: { hostname: hostname() } });
      if (who.protocolVersion !== PROTOCOL_VERSION) {
        const err = new CoreflowError('COREFLOW_ERR_PROTOCOL_VERSION', { ours: PROTOCOL_VERSION, theirs: who.protocolVersion });
        this.rejected = err.message;
        peer.close(CLOSE_CODES.version, 'protocol version mismatch');
        return;
      }
      this.identity = who.identity;
      this.attempt = 0;
      this.authFailures = 0;
      log.info({ identity: who.identity }, 'authenticated with the control plane');
      const config = await peer.request('getClusterConfig', {});
      await this.accept(config.spec, 'control plane (getClusterConfig)');
      this.flushReport();
    } catch (err) {
      const code = remoteCode(err);
      if (code === 'COREFLOW_ERR_AUTH') this.rejected = new CoreflowError('COREFLOW_ERR_AUTH', { details: String(isCoreflowError(err) ? err.params.details : err) }).message;
      else if (code === 'COREFLOW_ERR_PROTOCOL_VERSION') this.rejected = String(isCoreflowError(err) ? err.params.details : err);
      else log.warn({ err: errorText(err) }, 'control plane session failed');
      peer.close(this.rejected ? CLOSE_CODES.auth : CLOSE_CODES.policy, 'session failed');
    } finally {
      this.firstOutcome?.();
    }
  }

  /** Validates a whole document and, when good, saves it and puts it in force. */
  private accept(doc: Record<string, unknown>, origin: string): Promise<PushAnswer> {
    const run = async (): Promise<PushAnswer> => {
      const { log, desired } = this.opts;
      let loaded;
      try {
        loaded = await desired.reader.validate(doc);
      } catch (err) {
        const errors = isCoreflowError(err, 'COREFLOW_ERR_SPEC_INVALID') ? specErrors(err) : [errorText(err)];
        log.error({ origin, errors, kept: desired.get()?.hash ?? null }, 'config rejected; the last good one stays in force');
        return { accepted: false, errors };
      }
      const expected = this.identity?.clusterName;
      if (expected && loaded.spec.cluster.name !== expected) {
        const errors = [`cluster.name: expected "${expected}" (this agent's identity), got "${loaded.spec.cluster.name}"`];
        log.error({ origin, errors }, 'config rejected; the last good one stays in force');
        return { accepted: false, errors };
      }
      try {
        await this.saved.save(doc, loaded);
      } catch (err) {
        // Still put in force: the control plane is the source of truth; only the restart fallback is stale.
        log.error({ err: errorText(err) }, 'could not save the accepted config; a restart without the control plane would use an older one');
      }
      if (desired.offer(loaded, origin)) log.info({ origin, specHash: loaded.hash }, 'config accepted');
      return { accepted: true, specHash: loaded.hash };
    };
    // One at a time, in arrival order, so the saved file and the desired state end on the newest.
    const next = this.saving.then(run, run);
    this.saving = next.catch(() => undefined);
    return next;
  }
}

/** The source for the agent's config (control-plane mode). */
export function controlPlaneSource(
  config: CoreflowConfig,
  desired: DesiredState,
  log: Logger,
  extra: Pick<ControlPlaneSourceOptions, 'taskCounts' | 'status'> = {},
): ControlPlaneSource {
  return new ControlPlaneSource({
    url: config.cloudlyUrl!,
    token: config.jumpcode!,
    ...(config.caFile ? { caFile: config.caFile } : {}),
    stateDir: config.stateDir,
    desired,
    log,
    reconnectMaxMs: config.reconnectMaxMs,
    pingIntervalMs: config.pingIntervalMs,
    authRetryMs: config.authRetryMs,
    ...extra,
  });
}
