import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import { InternalServer } from '../server/internal-server.ts';
import type { SpecLimits } from '../spec/limits.ts';
import { AgentHub } from './agent-hub.ts';
import { DesiredStore } from './desired-store.ts';
import { EventHub } from './event-hub.ts';
import { addArchiveVault, vaultDir } from './archive-vault.ts';
import { addBackupApi } from './backup-api.ts';
import { addHttpApi } from './http-api.ts';

export interface ControlPlaneOptions {
  specPath: string;
  host: string;
  port: number;
  token: string;
  log: Logger;
  pingIntervalMs: number;
  /** Limits on the spec file and on every PATCHed document (the defaults when not given). */
  specLimits?: SpecLimits;
}

/**
 * The reference control plane (`log`: the root logger): desired state from a spec file, the agent WebSocket endpoint
 * (/v1/agent) and the HTTP API on one address. Start fails when the spec file is invalid; stop
 * writes the desired state back to the file.
 */
export class ControlPlane implements Lifecycle {
  readonly name = 'controlplane';
  readonly store: DesiredStore;
  readonly events = new EventHub();
  readonly server: InternalServer;
  readonly agents: AgentHub;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.log = opts.log.child({ component: 'controlplane' });
    this.store = new DesiredStore(opts.specPath, opts.specLimits);
    this.server = new InternalServer({ host: opts.host, port: opts.port }, opts.log.child({ component: 'controlplane-http' }));
    this.agents = new AgentHub({ token: opts.token, store: this.store, events: this.events, log: opts.log.child({ component: 'controlplane-agents' }), pingIntervalMs: opts.pingIntervalMs });
    this.server.onUpgrade('/v1/agent', this.agents.upgrade);
    addHttpApi(this.server.router, { token: opts.token, store: this.store, events: this.events, agents: this.agents, log: this.log });
    addArchiveVault(this.server.router, { token: opts.token, dir: vaultDir(opts.specPath) });
    addBackupApi(this.server.router, { token: opts.token, agents: this.agents });
  }

  get port(): number {
    return this.server.port;
  }

  private readonly log: Logger;

  async start(): Promise<void> {
    const loaded = await this.store.load();
    this.log.info({ spec: this.store.path, specHash: loaded.hash, cluster: loaded.spec.cluster.name, services: loaded.spec.services.length }, 'desired state loaded');
    await this.server.start();
    this.log.info({ host: this.opts.host, port: this.port }, 'control plane listening');
  }

  async stop(): Promise<void> {
    await this.agents.close();
    this.events.close();
    await this.server.stop();
    await this.store.persist();
    this.log.info({ spec: this.store.path }, 'desired state written back; stopped');
  }
}
