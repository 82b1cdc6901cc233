import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CoreflowError, errorCode, errorLogFields, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { CLOSE_CODES, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../protocol/envelope.ts';
import { methods, type RedeployAnswer, type ReportedPlan } from '../protocol/methods.ts';
import { Peer } from '../protocol/peer.ts';
import type { DesiredStore } from './desired-store.ts';
import type { EventHub } from './event-hub.ts';
import { tokenMatches } from '../server/bearer-auth.ts';

/** A connection that has not authenticated within this long is closed (4003). */
export const AUTH_DEADLINE_MS = 10_000;

interface Session {
  id: string;
  peer: Peer<typeof methods>;
  clusterName: string;
  remote: string;
  /** The plan this agent last reported as waiting for approval. */
  plan?: ReportedPlan;
}

/** A plan waiting on one agent, as GET /v1/plans lists it. */
export interface AgentPlan {
  agentId: string;
  clusterName: string;
  plan: ReportedPlan;
}

/**
 * The agents' WebSocket endpoint: authenticates each connection with the machine token (constant
 * time), serves getClusterConfig, reportStatus and getCertificateForDomain, and pushes accepted
 * changes to every authenticated agent.
 */
export class AgentHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly opts: { token: string; store: DesiredStore; events: EventHub; log: Logger; pingIntervalMs: number },
  ) {}

  get connected(): number {
    return this.sessions.size;
  }

  upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
  };

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const id = randomBytes(4).toString('hex');
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const log = this.opts.log.child({ agentId: id, remote });
    const { store, events } = this.opts;
    let session: Session | undefined;
    const peer: Peer<typeof methods> = new Peer(ws, {
      methods,
      log,
      pingIntervalMs: this.opts.pingIntervalMs,
      guard: (method) => {
        if (!session && method !== 'getIdentityByToken') throw new CoreflowError('COREFLOW_ERR_UNAUTHENTICATED', { method });
      },
    });
    const deadline = setTimeout(() => {
      if (!session) {
        log.warn('no successful getIdentityByToken in time; closing');
        peer.close(CLOSE_CODES.authTimeout, 'authentication timeout');
      }
    }, AUTH_DEADLINE_MS);
    log.info('agent connected');

    peer.handle('getIdentityByToken', (req) => {
      if (!tokenMatches(req.token, this.opts.token)) {
        const refused = new CoreflowError('COREFLOW_ERR_AUTH', { details: 'the token does not match' });
        log.warn(errorLogFields(refused), 'agent presented a wrong token; closing');
        events.publish('agent', { reason: 'agent rejected: wrong token', agentId: id, remote });
        setTimeout(() => peer.close(CLOSE_CODES.auth, 'wrong token'), 0);
        throw refused;
      }
      if (req.protocolVersion !== PROTOCOL_VERSION) {
        log.warn({ theirs: req.protocolVersion }, 'agent speaks another protocol version; closing');
        setTimeout(() => peer.close(CLOSE_CODES.version, 'protocol version mismatch'), 0);
        throw new CoreflowError('COREFLOW_ERR_PROTOCOL_VERSION', { ours: PROTOCOL_VERSION, theirs: req.protocolVersion });
      }
      clearTimeout(deadline);
      const clusterName = store.current.spec.cluster.name;
      session = { id, peer, clusterName, remote };
      this.sessions.set(id, session);
      log.info({ clusterName, agent: req.agent }, 'agent authenticated');
      events.publish('agent', { reason: 'agent authenticated', agentId: id, clusterName, remote });
      return { protocolVersion: PROTOCOL_VERSION, identity: { clusterName, role: 'cluster' as const, expiresAt: null } };
    });
    peer.handle('getClusterConfig', () => ({ spec: store.document, specHash: store.current.hash }));
    peer.handle('reportStatus', (report) => {
      const { overall } = report.status;
      log.info({ reason: report.reason, runId: report.run.runId, status: report.run.status, summary: report.run.summary, overall: `${overall.sync}/${overall.health}/${overall.operation}` }, 'agent report');
      events.publish('report', {
        reason: report.reason === 'run' ? `run ${report.run.status}` : `health changed: ${overall.health}`,
        cause: report.reason,
        agentId: id,
        clusterName: session?.clusterName ?? '',
        run: report.run,
        services: report.services,
        // Platform bindings travel as status objects of kind "binding" (docs/protocol.md).
        bindings: report.status.objects.filter((o) => o.kind === 'binding'),
        status: report.status,
      });
      return { received: true as const };
    });
    peer.handle('reportPlan', (req) => {
      if (!session) return { received: true as const };
      const before = session.plan?.id;
      if (req.plan) session.plan = req.plan;
      else delete session.plan;
      if (req.plan?.id !== before) {
        log.info({ plan: req.plan?.id ?? null, changes: req.plan?.changes.length ?? 0 }, req.plan ? 'agent plan waits for approval' : 'agent has no plan waiting');
        events.publish('plan', {
          reason: req.plan ? `plan ${req.plan.id} waits for approval` : `no plan waits any more${before ? ` (was ${before})` : ''}`,
          agentId: id,
          clusterName: session.clusterName,
          plan: req.plan,
        });
      }
      return { received: true as const };
    });
    peer.handle('getCertificateForDomain', (req) => {
      // The reference control plane holds no certificates (docs/protocol.md).
      throw new CoreflowError('COREFLOW_ERR_NO_CERTIFICATE', { domain: req.domain });
    });
    peer.onClosed((code, reason) => {
      clearTimeout(deadline);
      if (this.sessions.delete(id)) events.publish('agent', { reason: `agent disconnected (${code}${reason ? ` ${reason}` : ''})`, agentId: id, clusterName: session?.clusterName ?? '' });
      log.info({ code, reason }, 'agent connection closed');
    });
  }

  /** The plans waiting for approval, one per agent at most. */
  plans(): AgentPlan[] {
    return [...this.sessions.values()].filter((s) => s.plan).map((s) => ({ agentId: s.id, clusterName: s.clusterName, plan: s.plan! }));
  }

  /**
   * Asks the agent holding plan `planId` to apply it (approvePlan). COREFLOW_ERR_PLAN_UNKNOWN when
   * no agent is connected; the agent's own refusal (unknown, stale) comes back as
   * COREFLOW_ERR_REMOTE with its code in `remoteCode`.
   */
  async approve(planId: string): Promise<{ agentId: string; runId: string; status: string }> {
    // The agent that reports it; else the first connected one, which knows whether the id is stale or unknown.
    const s = [...this.sessions.values()].find((x) => x.plan?.id === planId) ?? this.sessions.values().next().value;
    if (!s) throw new CoreflowError('COREFLOW_ERR_PLAN_UNKNOWN', { id: planId, details: 'no agent is connected' });
    this.opts.events.publish('plan', { reason: `plan ${planId} approved by an operator`, agentId: s.id, clusterName: s.clusterName });
    const answer = await s.peer.request('approvePlan', { planId });
    this.opts.events.publish('plan', { reason: `plan ${planId} applied: ${answer.status}`, agentId: s.id, clusterName: s.clusterName, runId: answer.runId });
    return { agentId: s.id, runId: answer.runId, status: answer.status };
  }

  /** Suspends or resumes a service on every connected agent (setSuspended); resolves with their answers. */
  async setSuspended(service: string, suspended: boolean): Promise<{ agentId: string; changed: boolean }[]> {
    const out = await Promise.all([...this.sessions.values()].map(async (s) => ({ agentId: s.id, changed: (await s.peer.request('setSuspended', { service, suspended })).changed })));
    this.opts.events.publish('agent', { reason: `service ${service} ${suspended ? 'suspended' : 'resumed'} on ${out.length} agent(s)` });
    return out;
  }

  /** Pushes the current document to every authenticated agent; resolves with how many were asked. */
  pushAll(reason: string): number {
    const { store, events } = this.opts;
    const spec = store.document;
    for (const s of this.sessions.values()) {
      s.peer
        .request('pushClusterConfig', { spec, reason })
        .then((answer) => {
          const log = this.opts.log.child({ agentId: s.id });
          if (answer.accepted) log.info({ specHash: answer.specHash }, 'agent accepted the push');
          else log.warn({ errors: answer.errors }, 'agent rejected the push');
          events.publish('push', { reason: answer.accepted ? 'agent accepted the config' : 'agent rejected the config', agentId: s.id, ...answer });
        })
        .catch((err: unknown) => {
          this.opts.log.warn({ agentId: s.id, err: errorText(err) }, 'push failed');
          events.publish('push', { reason: `push failed: ${errorText(err)}`, agentId: s.id, accepted: false });
        });
    }
    return this.sessions.size;
  }

  /**
   * Asks every authenticated agent to redeploy a service (redeployService) and waits for their
   * answers: one entry per agent, its answer or its error (with the catalogue code).
   */
  async redeployAll(service: string): Promise<{ agentId: string; answer?: RedeployAnswer; error?: string; code?: string }[]> {
    const { events } = this.opts;
    return Promise.all(
      [...this.sessions.values()].map(async (s) => {
        try {
          const answer = await s.peer.request('redeployService', { service });
          events.publish('push', { reason: `agent redeployed ${service}: ${answer.status}`, agentId: s.id, service, status: answer.status });
          return { agentId: s.id, answer };
        } catch (err) {
          this.opts.log.warn({ agentId: s.id, service, err: errorText(err) }, 'redeploy failed');
          events.publish('push', { reason: `redeploy of ${service} failed: ${errorText(err)}`, agentId: s.id, service });
          return { agentId: s.id, error: errorText(err), code: errorCode(err) };
        }
      }),
    );
  }

  /** Says goodbye (1001) to every agent, waits up to 1 s for the close handshakes, then drops the rest. */
  async close(): Promise<void> {
    const closing = [...this.wss.clients].map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    for (const ws of this.wss.clients) ws.close(CLOSE_CODES.shutdown, 'control plane stopping');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closing), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
