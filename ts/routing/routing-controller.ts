import type Docker from 'dockerode';
import { Coalescer } from '../coalescer.ts';
import type { DockerEvent, DockerEventSource } from '../docker/event-stream.ts';
import { errorLogFields } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import type { LoadedSpec } from '../spec/parse.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { CaddySink } from './caddy-sink.ts';
import { CertificateStore, type CertificateProvider } from './certificates.ts';
import { EdgeHub } from './edge-hub.ts';
import { readRoutingLiveState } from './live-state.ts';
import { RemoteTaskWatch } from './remote-task-watch.ts';
import { buildRouteTable, routedServices, routeTableHash, wantedHosts } from './route-table.ts';
import type { RouteProblem, RouteTable } from './types.ts';

/** The Docker object types routing follows. */
export const ROUTING_EVENT_TYPES = ['container', 'service'];
/** Container events that mean a task started, stopped or changed health on this node. */
const CONTAINER_ACTIONS = new Set(['start', 'kill', 'die', 'stop', 'destroy']);
/** Docker names health events "health_status: healthy" (or unhealthy, starting). */
const isContainerTrigger = (action: string) => CONTAINER_ACTIONS.has(action) || action.startsWith('health_status');
/**
 * A task's state in the swarm API trails its container's events by a little: after an event the
 * table is built at once and again after these delays. Extra builds cost four list calls and
 * push nothing when the table did not change.
 */
const FOLLOW_UPS_MS = [100, 300, 1000];

export interface RoutingControllerOptions {
  docker: Docker;
  /** The agent's shared Docker event stream. */
  events: DockerEventSource;
  desired: () => LoadedSpec | undefined;
  log: Logger;
  /** COREFLOW_EDGE_TOKEN; without it edge proxies cannot connect. */
  edgeToken?: string;
  /** Keepalive ping interval on edge connections (COREFLOW_PING_INTERVAL_MS, as on the control-plane link). */
  pingIntervalMs?: number;
  /** The control plane's getCertificateForDomain, when connected to one. */
  certificateProvider?: CertificateProvider;
  /** A provider certificate is fetched again this long before it expires (default 7 days). */
  certRefreshBeforeMs?: number;
  /** Coalescing window for bursts of triggers. */
  debounceMs?: number;
  /** On a swarm of several nodes, how often the task list is read for tasks of other nodes (COREFLOW_ROUTING_TASK_POLL_MS). */
  taskPollMs?: number;
}

/** What GET /v1/routing shows: the table without key material. */
export interface RoutingStatus {
  hash: string;
  builtAt: string;
  routes: { hostName: string; destinationIps: string[]; destinationPorts: number[]; tls: boolean }[];
  problems: RouteProblem[];
}

/**
 * Keeps the route table live: builds it (four Docker list calls) after each reconcile run, on
 * container start/stop and service events, on a certificate refresh and every
 * `routing.resyncSeconds`; publishes it to the edge hub, Caddy and the Traefik endpoint. Builds
 * are coalesced (one at a time, triggers during a build make one more). A failed build keeps the
 * last table in force.
 */
export class RoutingController implements Lifecycle {
  readonly name = 'routing';
  readonly edge: EdgeHub;
  private readonly certificates: CertificateStore;
  private caddy: { key: string; sink: CaddySink } | undefined;
  private table: { table: RouteTable; hash: string; builtAt: Date } | undefined;
  private problemsKey = '';
  private unsubscribe: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private remoteTasks: RemoteTaskWatch | undefined;
  private readonly followUps = new Set<NodeJS.Timeout>();
  /** Builds, one at a time; each covers every trigger since the last (when and why they came). */
  private readonly builds: Coalescer<{ at: number; reason: string }, void>;
  private stopped = false;
  /** Aborts a build's Docker calls when the controller stops. */
  private readonly stopping = new AbortController();
  /** The cluster's workload service IDs and routed names as of the last build: other events are ignored. */
  private watched = { ids: new Set<string>(), names: new Set<string>() };

  constructor(private readonly opts: RoutingControllerOptions) {
    this.builds = new Coalescer(
      (pending) => this.build(pending[0]).catch((err: unknown) => this.opts.log.warn(errorLogFields(err), 'building the route table failed; the last table stays in force')),
      { delayMs: opts.debounceMs ?? 20 },
    );
    this.edge = new EdgeHub({
      token: opts.edgeToken,
      log: opts.log.child({ sink: 'edge' }),
      // Unknown (undefined) until there is a desired state: edges with the right token wait for it.
      enabled: () => {
        const loaded = this.opts.desired();
        return loaded ? (this.spec()?.routing.edge.enabled ?? false) : undefined;
      },
      ...(opts.pingIntervalMs ? { pingIntervalMs: opts.pingIntervalMs } : {}),
    });
    this.certificates = new CertificateStore(opts.certificateProvider, {
      log: opts.log.child({ part: 'certificates' }),
      ...(opts.certRefreshBeforeMs ? { refreshBeforeMs: opts.certRefreshBeforeMs } : {}),
      onUpdate: () => this.trigger('certificate refreshed'),
    });
  }

  /** Sets (or clears) the certificate provider, e.g. when the control-plane link comes up. */
  setCertificateProvider(provider: CertificateProvider | undefined): void {
    this.certificates.provider = provider;
    this.trigger('certificate provider changed');
  }

  private spec(): ClusterSpec | undefined {
    const s = this.opts.desired()?.spec;
    return s?.routing.enabled ? s : undefined;
  }

  /** The current table (with keys: for sinks only), or undefined before the first build. */
  get current(): { table: RouteTable; hash: string } | undefined {
    return this.table;
  }

  get status(): RoutingStatus | undefined {
    const t = this.table;
    if (!t) return undefined;
    return {
      hash: t.hash,
      builtAt: t.builtAt.toISOString(),
      routes: t.table.routes.map((r) => ({ hostName: r.hostName, destinationIps: r.destinationIps, destinationPorts: r.destinationPorts, tls: r.privateKey !== '' })),
      problems: t.table.problems,
    };
  }

  async start(): Promise<void> {
    this.unsubscribe = this.opts.events.subscribe({
      onEvent: (e) => this.onDockerEvent(e),
      onReconnect: () => this.trigger('Docker event stream reconnected'),
    });
    if (this.opts.taskPollMs) {
      this.remoteTasks = new RemoteTaskWatch({
        docker: this.opts.docker,
        intervalMs: this.opts.taskPollMs,
        serviceIds: () => this.watched.ids,
        onChange: () => this.trigger('task changed in the swarm'),
        signal: this.stopping.signal,
        log: this.opts.log,
      });
      this.remoteTasks.start();
    }
    this.trigger('start');
  }

  /**
   * Only events of this cluster's services count (the swarm may run much else): containers of a
   * service seen at the last build, and service events by ID or by a routed service's name (a
   * new service is known by name until the build its event triggers learns its ID).
   */
  private onDockerEvent(e: DockerEvent): void {
    const attrs = e.Actor.Attributes ?? {};
    if (e.Type === 'container') {
      if (!isContainerTrigger(e.Action) || !this.watched.ids.has(attrs['com.docker.swarm.service.id'] ?? '')) return;
    } else if (e.Type === 'service') {
      if (!this.watched.ids.has(e.Actor.ID) && !this.watched.names.has(attrs.name ?? '')) return;
    } else return;
    const reason = `${e.Type} ${e.Action}`;
    const at = Date.now();
    this.trigger(reason);
    for (const ms of FOLLOW_UPS_MS) {
      const t = setTimeout(() => {
        this.followUps.delete(t);
        this.trigger(`${reason} (follow-up +${ms} ms)`, at);
      }, ms);
      this.followUps.add(t);
    }
  }

  /**
   * Asks for a build soon; triggers within the debounce window (and during a build) collapse.
   * `at` is when the cause happened (a follow-up passes its event's time), for the latency log.
   */
  trigger(reason: string, at = Date.now()): void {
    if (this.stopped) return;
    void this.builds.trigger({ at, reason });
  }

  private armResync(spec: ClusterSpec | undefined): void {
    clearTimeout(this.resyncTimer);
    if (this.stopped) return;
    this.resyncTimer = setTimeout(() => this.trigger('periodic resync'), (spec?.routing.resyncSeconds ?? 30) * 1000);
  }

  private async build(pending: { at: number; reason: string } | undefined): Promise<void> {
    const spec = this.spec();
    this.armResync(spec);
    if (!spec) return;
    const live = await readRoutingLiveState(this.opts.docker, spec.cluster.name, spec.networks.gateway.name, this.stopping.signal);
    this.watched = { ids: new Set(live.services.map((s) => s.id)), names: new Set(routedServices(spec).map((s) => s.name)) };
    const hostNames = routedServices(spec).flatMap((s) => wantedHosts(s).hosts.filter((h) => h.tls).map((h) => h.hostName));
    const certs = await this.certificates.resolve(spec, hostNames);
    const table = buildRouteTable({ spec, ...live, certificates: certs.certificates });
    table.problems.push(...certs.problems);
    const hash = routeTableHash(table);
    const changed = this.table?.hash !== hash;
    this.table = { table, hash, builtAt: new Date() };
    const log = this.opts.log;
    if (changed) {
      log.info(
        { hash, routes: table.routes.map((r) => `${r.hostName} -> ${r.destinationIps.length} task(s)`), trigger: pending?.reason, sinceTriggerMs: pending ? Date.now() - pending.at : undefined },
        'route table changed',
      );
    }
    const problemsKey = JSON.stringify(table.problems);
    if (problemsKey !== this.problemsKey) {
      this.problemsKey = problemsKey;
      if (table.problems.length > 0) log.warn({ problems: table.problems }, 'route table problems');
    }
    // The sinks skip what they already have, so publishing an unchanged table costs nothing.
    if (spec.routing.edge.enabled) this.edge.publish(table.routes, hash);
    else if (this.edge.connections > 0) this.edge.closeAll('routing.edge.enabled is false');
    if (spec.routing.caddy.enabled) await this.caddySink(spec).publish(table.routes, hash);
  }

  private caddySink(spec: ClusterSpec): CaddySink {
    const c = spec.routing.caddy;
    const key = JSON.stringify([c, spec.routing.resyncSeconds]);
    if (this.caddy?.key !== key) {
      this.caddy = {
        key,
        sink: new CaddySink({
          adminUrl: c.adminUrl,
          httpListen: c.httpListen,
          httpsListen: c.httpsListen,
          verifyEveryMs: spec.routing.resyncSeconds * 1000,
          log: this.opts.log.child({ sink: 'caddy' }),
        }),
      };
    }
    return this.caddy.sink;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.unsubscribe?.();
    this.remoteTasks?.stop();
    clearTimeout(this.resyncTimer);
    for (const t of this.followUps) clearTimeout(t);
    this.followUps.clear();
    await this.builds.stop();
    await this.edge.stop();
  }
}
