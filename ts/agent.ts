import { join } from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import { agentBackups } from './backup/agent-backups.ts';
import type { BackupManager } from './backup/backup-manager.ts';
import { BackupSchedule } from './backup/backup-schedule.ts';
import { ServiceHolds } from './backup/service-holds.ts';
import { defaultSteps } from './chain-steps.ts';
import type { CoreflowConfig } from './config/config.ts';
import { DEFAULT_BACKUP_IMAGE } from './config/settings.ts';
import { withSecretFiles } from './config/secret-settings.ts';
import { DriftController, DRIFT_EVENT_TYPES } from './controllers/drift.ts';
import { EventRetentionController } from './controllers/event-retention.ts';
import { GarbageController } from './controllers/garbage.ts';
import { ControllerManager } from './controllers/manager.ts';
import { OwnedObjects } from './controllers/owned-objects.ts';
import { TaskHealthController, type TaskCount } from './controllers/task-health.ts';
import { connectDocker, type DockerConnection } from './docker/client.ts';
import type { EdgeAccess } from './docker/edge-access.ts';
import { DockerEventStream, type DockerEventSource } from './docker/event-stream.ts';
import { serviceImage } from './docker/image-pin.ts';
import { ImageResolver } from './docker/image-resolver.ts';
import { RegistryClient } from './docker/registry-client.ts';
import { discoverSelfTask, type SelfTask } from './docker/self-task.ts';
import { dnsStepOptions } from './dns/token.ts';
import { CoreflowError, errorLogFields, errorText, isCoreflowError } from './errors.ts';
import { suspensionKey, suspensionOf } from './object-controls.ts';
import { planSummary, type PendingPlan } from './reconcile/approvals.ts';
import { Suspensions } from './reconcile/suspensions.ts';
import { registerControlRoutes, unknownServiceError } from './server/control-routes.ts';
import { bindingsStepOptions } from './storage/corestore-token.ts';
import { callGuarded } from './guarded.ts';
import type { Lifecycle } from './lifecycle.ts';
import { EventLog } from './observe/event-log.ts';
import { EventBus } from './observe/events.ts';
import type { Logger } from './observe/logger.ts';
import { AgentMetrics } from './observe/metrics.ts';
import { buildStatus, type AgentStatus } from './observe/status.ts';
import { holderId } from './lease/holder-id.ts';
import { SwarmLease } from './lease/swarm-lease.ts';
import { ErrorReporter } from './reconcile/error-reports.ts';
import { Reconciler } from './reconcile/reconciler.ts';
import { RetryScheduler } from './reconcile/retry.ts';
import { Holds } from './reconcile/holds.ts';
import { PausedUpdatesController } from './controllers/paused-updates.ts';
import { runEventsObserver } from './reconcile/run-events.ts';
import { recordRunMetrics } from './reconcile/run-metrics.ts';
import { StateFile } from './reconcile/state-file.ts';
import type { RunResult } from './reconcile/types.ts';
import type { CertificateProvider } from './routing/certificates.ts';
import { RoutingController, ROUTING_EVENT_TYPES } from './routing/routing-controller.ts';
import { registerRoutingEndpoints } from './routing/routing-endpoints.ts';
import { InternalServer } from './server/internal-server.ts';
import { registerObserveRoutes } from './server/observe-routes.ts';
import { registerOperatorRoutes } from './server/operator-routes.ts';
import type { RedeployAnswer } from './protocol/methods.ts';
import { registerRetryRoute } from './server/retry-route.ts';
import { DesiredState } from './sources/desired-state.ts';
import { FileSource } from './sources/file-source.ts';
import { specLimits } from './spec/limits.ts';
import { OffThreadParser } from './spec/off-thread-parser.ts';

export type ResultListener = (result: RunResult) => void;

/** The parts that exist once Docker is connected (between start and stop). */
interface Running {
  docker: DockerConnection;
  reconciler: Reconciler;
  retry: RetryScheduler;
  taskHealth: TaskHealthController;
}

/**
 * The composition root: builds every part and starts them in this order: internal server,
 * spec parser, Docker connection, engine (state file, reconciler, retry), Docker event stream, routing,
 * desired-state source, resync schedule, background controllers; then the first run. `stop` stops
 * them in the reverse order; a run in progress stops between two actions and its Docker calls
 * are aborted.
 */
export class Agent implements Lifecycle {
  readonly name = 'agent';
  readonly desired: DesiredState;
  /** Sources parse and validate documents here, off the event loop, within the spec limits. */
  private readonly specParser: OffThreadParser;
  readonly server: InternalServer;
  readonly bus = new EventBus();
  /** Other parts set their gauges here (edge proxies, routes, control-plane link). */
  readonly metrics = new AgentMetrics();
  readonly eventLog: EventLog;
  readonly stateFile: StateFile;
  readonly controllers: ControllerManager;
  /** Services held back after an automatic rollback (the paused-updates controller holds, `retry` releases). */
  readonly holds = new Holds();
  private readonly owned = new OwnedObjects();
  /** Services suspended at run time (`coreflow suspend`), kept in the state directory. */
  readonly suspensions: Suspensions;
  /** Services a backup or restore keeps out of reconciling (scaled to 0 for the while). */
  private readonly backupPauses = new ServiceHolds();
  /** Backups and restores of services' volumes; set once Docker is connected. */
  backups: BackupManager | undefined;
  backupSchedule: BackupSchedule | undefined;
  private readonly errors: ErrorReporter;
  private readonly resultListeners = new Set<ResultListener>();
  private readonly statusListeners = new Set<(s: AgentStatus) => void>();
  private readonly planListeners = new Set<(p: PendingPlan | undefined) => void>();
  private readonly started: Lifecycle[] = [];
  private running: Running | undefined;
  /** The one-agent-per-cluster lease; set once Docker is connected. */
  lease: SwarmLease | undefined;
  /**
   * Hears an error after which this agent must not go on (the lease lost): the CLI stops the
   * process with a non-zero code so Swarm restarts it as a standby. Reconciling stops at once
   * whether or not anyone listens.
   */
  onFatal: ((err: CoreflowError) => void) | undefined;
  private firstRunDone = false;
  private stopRequested = false;
  /** Image tags resolved to digests, kept between runs; asked again every image check, resync and redeploy. */
  readonly images: ImageResolver;
  /** The live route table and its sinks (edge WS, Caddy, Traefik); set once Docker is connected. */
  routing: RoutingController | undefined;
  /**
   * The control plane's getCertificateForDomain, used from start(); once started, change it with
   * `routing.setCertificateProvider`.
   */
  certificateProvider: CertificateProvider | undefined;

  constructor(
    readonly config: CoreflowConfig,
    readonly log: Logger,
  ) {
    this.specParser = new OffThreadParser({ limits: specLimits(config), timeoutMs: config.specParseTimeoutMs, log: log.child({ component: 'spec-parser' }) });
    this.desired = new DesiredState(this.specParser);
    this.server = new InternalServer({ host: config.host, port: config.port, readyTimeoutMs: config.readyTimeoutMs }, log.child({ component: 'internal-server' }));
    this.server.addReadiness({ name: 'docker', check: async () => (this.running ? (await this.running.docker.docker.ping(), true) : 'not connected') });
    this.server.addReadiness({ name: 'desired-state', check: () => (this.desired.get() ? true : 'no valid desired state loaded') });
    this.server.addReadiness({ name: 'lease', check: () => this.notHolding() ?? true });
    this.server.addReadiness({ name: 'first-run', check: () => (this.firstRunDone ? true : 'the first run has not finished') });
    this.eventLog = new EventLog(join(config.stateDir, 'events.jsonl'));
    this.bus.subscribe((e) => void this.eventLog.append(e));
    this.stateFile = new StateFile(config.stateDir);
    this.suspensions = new Suspensions(config.stateDir);
    this.errors = new ErrorReporter(this.bus);
    this.controllers = new ControllerManager({ log: log.child({ component: 'controllers' }), metrics: this.metrics, defaultTimeoutMs: config.controllerTimeoutMs });
    registerObserveRoutes(this.server.router, { metrics: this.metrics, bus: this.bus, status: () => this.status() });
    registerControlRoutes(this.server.router, {
      token: config.apiToken,
      pendingPlan: () => this.pendingPlan,
      approve: (id) => this.approve(id),
      setSuspended: (service, suspended) => this.setSuspended(service, suspended),
      suspended: () => [...this.suspensions.current],
    });
    registerRetryRoute(this.server.router, config.apiToken, (key) => this.retryObject(key));
    this.images = new ImageResolver({
      client: new RegistryClient({ timeoutMs: config.registryTimeoutMs, onRequest: (r) => this.metrics.recordRegistryRequest(r) }),
      intervalMs: config.imageCheckInterval,
    });
    registerOperatorRoutes(this.server.router, { token: config.apiToken, redeploy: (name) => this.redeploy(name) });
  }

  get connection(): DockerConnection | undefined {
    return this.running?.docker;
  }

  get lastResult(): RunResult | undefined {
    return this.running?.reconciler.lastResult;
  }

  onResult(listener: ResultListener): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  /**
   * Hears the status after every run and whenever a service's health changes (the control-plane
   * client forwards it with reportStatus). Returns the unsubscribe.
   */
  onStatus(listener: (s: AgentStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private async startPart(part: Lifecycle): Promise<void> {
    await part.start();
    this.started.push(part);
  }

  /** Starts every part; a start that fails stops what had started (a port, a worker) before rejecting, so the process can end. */
  async start(): Promise<void> {
    try {
      await this.startAll();
    } catch (err) {
      if (!this.stopRequested) await this.stop();
      throw err;
    }
  }

  /** Every wake-up of the chain passes here: only the lease holder reconciles. */
  private readonly trigger = (reason: string) => void this.gatedRun(reason);

  /**
   * The order matters: nothing writes to Docker or to an edge before the lease is held; the
   * sources load the desired state before the first run; the controllers start last.
   */
  private async startAll(): Promise<void> {
    const { log } = this;
    if (!this.config.spec && !this.config.cloudlyUrl) {
      throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'standalone mode needs --spec FILE (or COREFLOW_SPEC); control-plane mode needs CLOUDLY_URL and JUMPCODE' });
    }
    // Secret files are read before anything starts: a missing one changes nothing.
    const config = await withSecretFiles(this.config);
    await this.startPart(this.server);
    // Started early: the worker warms up while Docker is connected.
    await this.startPart({ name: 'spec-parser', start: async () => this.specParser.start(), stop: () => this.specParser.close() });

    const docker = await connectDocker({ ...(config.dockerHost ? { host: config.dockerHost } : {}), timeoutMs: config.dockerTimeoutMs });
    log.info({ endpoint: docker.endpoint, apiVersion: docker.apiVersion }, 'connected to Docker');
    const offCalls = docker.calls.onCall((c) => this.metrics.recordDockerCall(c));
    await this.startPart({ name: 'docker-call-metrics', start: async () => undefined, stop: async () => offCalls() });
    const dockerEvents = new DockerEventStream(docker.docker, { types: [...new Set([...DRIFT_EVENT_TYPES, ...ROUTING_EVENT_TYPES])], log: log.child({ component: 'docker-events' }) });
    let self: Promise<SelfTask | undefined> | undefined;
    const selfTask = () => (self ??= discoverSelfTask(docker.docker));
    const backups = agentBackups({
      config,
      docker: docker.docker,
      server: this.server,
      holds: this.backupPauses,
      bus: this.bus,
      log,
      spec: () => this.desired.get()?.spec,
      image: async () => config.backupImage ?? (await selfTask())?.image ?? DEFAULT_BACKUP_IMAGE,
      notReady: () => this.notHolding(),
    });
    this.backups = backups;
    const state = await this.stateFile.load();
    if (state) log.info({ lineage: state.lineage, serial: state.serial, resources: state.resources.length }, 'state file loaded');
    const loadError = await this.suspensions.load();
    if (loadError) log.error({ path: this.suspensions.path, err: loadError }, 'cannot read the suspensions; none are in force');
    await this.startEngine(config, docker, dockerEvents, backups, await this.edgeAccess(config, selfTask));
    await this.startPart(dockerEvents);
    await this.startSource(config, backups);

    // One agent per cluster reconciles: a standby waits here (serving /healthz, /readyz, /v1/status)
    // until it holds the lease; nothing below writes to Docker or to an edge before that.
    const lease = await this.startLease(config, docker);
    await lease.acquired();
    const leftover = await backups.removeLeftoverJobs().catch((err: unknown) => (log.warn(errorLogFields(err), 'cannot look for backup jobs left by an earlier agent'), 0));
    if (leftover > 0) log.warn({ removed: leftover }, 'removed backup jobs an earlier agent left unfinished');
    // A new state dir (the agent moved to another node) continues the history the lease carries.
    if (!state && lease.inherited) {
      this.stateFile.adopt(lease.inherited);
      log.info({ lineage: lease.inherited.lineage, serial: lease.inherited.serial }, 'no state file here; continuing the lineage of the previous lease holder');
    }
    await this.startRouting(config, docker, dockerEvents);
    // Subscribed after the first load: the start trigger below covers it.
    this.desired.onChange((_l, origin) => this.trigger(`desired state changed (${origin})`));
    await this.startSchedules(config, backups);
    await this.startPart(this.controllers);
    await this.gatedRun('start');
  }

  /** The engine: the chain and its retries with backoff; the background controllers are registered here and started last. */
  private async startEngine(config: CoreflowConfig, docker: DockerConnection, dockerEvents: DockerEventSource, backups: BackupManager, edge: EdgeAccess): Promise<void> {
    const { log, trigger } = this;
    const reconciler = new Reconciler({
      steps: defaultSteps(docker.docker, {
        dns: dnsStepOptions(config),
        bindings: bindingsStepOptions(config),
        heldServices: (name) => this.holds.get(`service/${name}`),
        images: this.images,
        edge: () => edge,
        pausedServices: this.backupPauses.reason,
        beforeVolumeRemoval: async (v, signal) => void (await backups.snapshotUnmounted(v.name, v.labels, signal)),
      }),
      desired: () => this.desired.get(),
      log: log.child({ component: 'reconciler' }),
      confirmMassDeletion: config.confirmMassDeletion,
      applyMode: config.applyMode,
      controls: (loaded) => {
        const suspended = suspensionOf(loaded.spec, this.suspensions.current);
        return suspended ? { suspended } : undefined;
      },
      onPlan: (plan) => this.planChanged(plan),
      runTimeoutMs: config.runTimeoutMs,
      observer: runEventsObserver(this.bus),
      onResult: (r) => this.afterRun(r),
    });
    const retry = new RetryScheduler({
      baseMs: config.retryBaseMs,
      maxMs: config.retryMaxMs,
      maxAttempts: config.retryMaxAttempts,
      trigger,
      log: log.child({ component: 'retry' }),
      onGiveUp: (key, attempts) => this.reportRetriesExhausted(key, attempts),
    });
    const taskHealth = this.buildControllers(docker, dockerEvents, trigger, () => reconciler.busy);
    this.running = { docker, reconciler, retry, taskHealth };
    await this.startPart({
      name: 'engine',
      start: async () => undefined,
      stop: async () => {
        retry.stop();
        await reconciler.stop();
        await this.eventLog.flush();
      },
    });
  }

  /**
   * Where the desired state comes from. Control-plane mode (CLOUDLY_URL set): config fetched and
   * pushed, a report after every run, and routing's certificates from getCertificateForDomain;
   * the control-plane client is loaded only then. Standalone mode: the spec file.
   */
  private async startSource(config: CoreflowConfig, backups: BackupManager): Promise<void> {
    if (!config.cloudlyUrl) {
      const source = new FileSource(config.spec!, this.desired, this.log.child({ component: 'file-source' }));
      await this.startPart({ name: 'file-source', start: async () => void (await source.start()), stop: async () => source.stop() });
      return;
    }
    const cp = (await import('./sources/controlplane-source.ts')).controlPlaneSource(config, this.desired, this.log.child({ component: 'controlplane-source' }), {
      taskCounts: () => this.taskCounts(),
      status: () => this.status(),
      operator: { pendingPlan: () => this.pendingPlan, approve: (id) => this.approve(id), setSuspended: (service, suspended) => this.setSuspended(service, suspended) },
      redeploy: (name) => this.redeploy(name),
      backups,
    });
    this.certificateProvider ??= cp;
    const m = this.metrics;
    this.onResult((r) => cp.report(r));
    this.planListeners.add((p) => cp.planChanged(p));
    // The same status as /v1/status: also when a service's health changes between runs.
    this.onStatus(() => cp.statusChanged());
    m.sampleOnScrape(() => m.controlplaneConnected.set(cp.connected ? 1 : 0));
    await this.startPart(cp);
  }

  /** The routing table for the edge proxies: rebuilt after every run, on Docker events and on a resync timer. */
  private async startRouting(config: CoreflowConfig, docker: DockerConnection, dockerEvents: DockerEventSource): Promise<void> {
    const routing = new RoutingController({
      docker: docker.docker,
      events: dockerEvents,
      desired: () => this.desired.get(),
      log: this.log.child({ component: 'routing' }),
      edgeToken: config.edgeToken,
      pingIntervalMs: config.pingIntervalMs,
      certificateProvider: this.certificateProvider,
      certRefreshBeforeMs: config.certRefreshBeforeHours * 3600_000,
      taskPollMs: config.routingTaskPollMs,
    });
    this.routing = routing;
    registerRoutingEndpoints(this.server, routing, { desired: () => this.desired.get(), edgeToken: config.edgeToken });
    await this.startPart(routing);
    const m = this.metrics;
    m.sampleOnScrape(() => (m.edgeProxiesConnected.set(routing.edge.connections), m.routes.set(routing.current?.table.routes.length ?? 0)));
    this.onResult(() => routing.trigger('reconcile run finished'));
  }

  /** The resync schedule, the image check, and the per-service backup schedules. */
  private async startSchedules(config: CoreflowConfig, backups: BackupManager): Promise<void> {
    // A resync and every image check ask the registries for every tag again.
    let schedule: ScheduledTask | undefined;
    let imageCheck: NodeJS.Timeout | undefined;
    const recheck = (reason: string) => {
      this.images.expire();
      this.trigger(reason);
    };
    await this.startPart({
      name: 'schedule',
      start: async () => {
        schedule = cron.schedule(config.resyncCron, () => recheck('scheduled resync'));
        imageCheck = setInterval(() => recheck('image check'), config.imageCheckInterval);
      },
      stop: async () => {
        clearInterval(imageCheck);
        await schedule?.stop();
      },
    });
    const backupSchedule = new BackupSchedule({ manager: backups, spec: () => this.desired.get()?.spec, log: this.log.child({ component: 'backup-schedule' }) });
    this.backupSchedule = backupSchedule;
    this.desired.onChange(() => backupSchedule.sync());
    await this.startPart(backupSchedule);
  }

  /**
   * The lease of the cluster in the swarm, on a Docker connection of its own (so a clean stop
   * can still release it after the agent's connection is closed). Its state shows in /readyz,
   * /v1/status and the metrics; losing it stops reconciling at once and calls onFatal.
   */
  private async startLease(config: CoreflowConfig, main: DockerConnection): Promise<SwarmLease> {
    const own = await connectDocker({ ...(config.dockerHost ? { host: config.dockerHost } : {}), timeoutMs: config.dockerTimeoutMs });
    const info = (await main.docker.info()) as { Swarm?: { NodeID?: string } };
    const lease = new SwarmLease({
      docker: own.docker,
      cluster: () => this.desired.get()?.spec.cluster.name,
      holder: holderId(info.Swarm?.NodeID),
      leaseMs: config.leaseSeconds * 1000,
      log: this.log.child({ component: 'lease' }),
      onLost: (err) => this.onFatal?.(err),
      stateIdentity: () => this.stateFile.identity,
    });
    this.lease = lease;
    const m = this.metrics;
    m.sampleOnScrape(() => {
      const s = lease.status();
      m.leaseHeld.set(lease.holding ? 1 : 0);
      m.leaseHolder.reset();
      if (s.holder) m.leaseHolder.set({ holder: s.holder, lease: s.name ?? '' }, 1);
    });
    lease.onChange(() => this.statusChanged());
    await this.startPart({ name: 'lease', start: () => lease.start(), stop: async () => (await lease.stop(), own.close()) });
    return lease;
  }

  /**
   * What coretraffic gets to reach this agent: COREFLOW_EDGE_URL and COREFLOW_EDGE_NETWORK, or
   * when the agent runs as a Swarm service, its service name and first overlay network; the edge
   * token (as a secret file) whenever one is set.
   */
  private async edgeAccess(config: CoreflowConfig, selfTask: () => Promise<SelfTask | undefined>): Promise<EdgeAccess> {
    const self = config.edgeUrl && config.edgeNetwork ? undefined : await selfTask();
    const url = config.edgeUrl ?? (self ? `ws://${self.service}:${config.port}/v1/edge` : undefined);
    const network = config.edgeNetwork ?? self?.networks[0];
    this.log.info({ url, network, withToken: config.edgeToken !== undefined }, 'coretraffic reaches the agent at this edge URL');
    return { ...(url ? { url } : {}), ...(network ? { network } : {}), ...(config.edgeToken ? { token: config.edgeToken } : {}) };
  }

  /** Why this agent does not hold the cluster's lease, or undefined when it does. */
  private notHolding(): string | undefined {
    return this.lease?.holding ? undefined : (this.lease?.describe() ?? 'not connected to Docker yet');
  }

  /** A run of the chain if this agent holds the lease; undefined (nothing done) on a standby. */
  private gatedRun(reason: string): Promise<RunResult | undefined> {
    if (!this.running || !this.lease?.holding) return Promise.resolve(undefined);
    return this.running.reconciler.trigger(reason);
  }

  /** The background controllers (started last): task health, drift, garbage, event retention. */
  private buildControllers(docker: DockerConnection, events: DockerEventSource, trigger: (reason: string) => void, busy: () => boolean): TaskHealthController {
    const { config, log } = this;
    const spec = () => this.desired.get()?.spec;
    const taskHealth = new TaskHealthController({ docker: docker.docker, cluster: () => spec()?.cluster.name, intervalMs: config.taskHealthIntervalMs, bus: this.bus, onChange: () => this.statusChanged() });
    this.controllers.register(taskHealth);
    this.controllers.register(new DriftController({ events, log: log.child({ component: 'drift' }), owned: () => this.owned.current, trigger, busy, bus: this.bus }));
    this.controllers.register(
      new GarbageController({
        docker: docker.docker,
        log: log.child({ component: 'garbage' }),
        desired: () => {
          const s = spec();
          return s ? { cluster: s.cluster.name, networks: Object.values(s.networks).map((n) => n.name) } : undefined;
        },
        busy,
        trigger,
        keep: () => this.owned.current,
        intervalMs: config.garbageIntervalMs,
        graceMs: config.garbageGraceMs,
      }),
    );
    this.controllers.register(
      new PausedUpdatesController({
        docker: docker.docker,
        cluster: () => spec()?.cluster.name,
        policyOf: (name) => spec()?.services.find((s) => s.name === name)?.onPausedUpdate ?? config.pausedUpdatePolicy,
        rollbackAfterMs: config.pausedRollbackAfterMs,
        intervalMs: config.taskHealthIntervalMs,
        holds: this.holds,
        bus: this.bus,
        log: log.child({ component: 'paused-updates' }),
        trigger,
      }),
    );
    this.controllers.register(new EventRetentionController(this.eventLog, { maxAgeMs: config.eventLogMaxAgeHours * 3_600_000, maxBytes: config.eventLogMaxBytes }));
    return taskHealth;
  }

  /**
   * After every run of the chain: metrics, error reports, retries, state file, owned objects,
   * status, then the listeners. Each hearer is guarded: one that throws is logged and stops
   * neither the others nor the chain.
   */
  private afterRun(result: RunResult): void {
    this.firstRunDone = true;
    const hearers = [(r: RunResult) => this.recordRun(r), ...this.resultListeners];
    for (const l of hearers) callGuarded(() => l(result), (err) => this.log.error(errorLogFields(err), 'result listener failed'));
  }

  private recordRun(result: RunResult): void {
    recordRunMetrics(this.metrics, result);
    if (result.dryRun) {
      // A run stopped at its plan: the status (Waiting) changed all the same.
      if (result.plan) this.statusChanged();
      return;
    }
    this.owned.afterRun(result);
    this.errors.afterRun(result);
    this.running?.retry.afterRun(result);
    this.stateFile.write(result).catch((err: unknown) => this.log.error({ err: errorText(err), path: this.stateFile.path }, 'cannot write the state file'));
    // Health changes quickly after a run (new tasks): look now rather than at the next interval.
    if (this.running) this.controllers.kick(this.running.taskHealth.name);
    this.statusChanged();
  }

  private statusChanged(): void {
    if (this.statusListeners.size === 0) return;
    const s = this.status();
    for (const l of this.statusListeners) callGuarded(() => l(s), (err) => this.log.warn(errorLogFields(err), 'status listener failed'));
  }

  /** Running and desired tasks by service, from the task-health controller's last check. */
  taskCounts(): Record<string, TaskCount> {
    return Object.fromEntries(this.running?.taskHealth.counts ?? []);
  }

  status(): AgentStatus {
    const r = this.running;
    return buildStatus({
      result: r?.reconciler.lastResult,
      health: r?.taskHealth.health ?? new Map(),
      healthCheckedAt: r?.taskHealth.checkedAt ?? 0,
      busy: r?.reconciler.busy ?? false,
      waiting: r?.retry.waiting ?? new Set(),
      stalled: r?.retry.stalled ?? new Map(),
      controllers: this.controllers.states(),
      state: this.stateFile.identity,
      ...(this.pendingPlan ? { plan: planSummary(this.pendingPlan) } : {}),
      ...(this.lease ? { lease: this.lease.status() } : {}),
    });
  }

  /** The plan waiting for approval, if any. */
  get pendingPlan(): PendingPlan | undefined {
    return this.running?.reconciler.pendingPlan;
  }

  /**
   * Applies the waiting plan `planId` exactly (see Reconciler.approve): COREFLOW_ERR_PLAN_UNKNOWN
   * or COREFLOW_ERR_PLAN_STALE when it cannot, and then nothing of it is applied.
   */
  async approve(planId: string): Promise<RunResult> {
    const r = this.running;
    if (!r) throw new CoreflowError('COREFLOW_ERR_PLAN_UNKNOWN', { id: planId, details: 'the agent is not running' });
    try {
      const result = await r.reconciler.approve(planId);
      this.bus.emit({ type: 'plan.approved', resourceType: 'plan', name: planId, runId: result.runId, summary: `plan ${planId} approved and applied: ${result.status}` });
      return result;
    } catch (err) {
      if (isCoreflowError(err, 'COREFLOW_ERR_PLAN_STALE')) this.bus.emit({ type: 'plan.stale', resourceType: 'plan', name: planId, summary: err.message, code: err.code });
      throw err;
    }
  }

  /**
   * Suspends or resumes a workload service of the desired state at run time (kept across restarts)
   * and wakes the chain. A name the desired state does not have is COREFLOW_ERR_TARGET_UNKNOWN
   * for a suspension; resuming it is allowed (it clears a leftover).
   */
  async setSuspended(service: string, suspended: boolean): Promise<boolean> {
    const known = this.desired.get()?.spec.services.map((s) => s.name) ?? [];
    if (suspended && !known.includes(service)) throw unknownServiceError(service, known);
    const changed = await this.suspensions.set(suspensionKey(service), suspended);
    if (changed) {
      this.bus.emit({ type: 'suspend.changed', resourceType: 'services', kind: 'service', name: service, summary: `service ${service} ${suspended ? 'suspended' : 'resumed'}`, details: { suspended } });
      void this.reconcile(`service ${service} ${suspended ? 'suspended' : 'resumed'}`);
    }
    return changed;
  }

  private planChanged(plan: PendingPlan | undefined): void {
    if (plan) {
      this.log.warn({ plan: plan.id, changes: plan.changes.length, why: plan.why }, `plan ${plan.id} waits for approval: coreflow approve ${plan.id}`);
      this.bus.emit({ type: 'plan.waiting', resourceType: 'plan', name: plan.id, runId: plan.runId, summary: `plan ${plan.id} waits for approval: ${plan.changes.length} change(s)`, details: { changes: plan.changes.length, why: plan.why } });
    }
    for (const l of this.planListeners) callGuarded(() => l(plan), (err) => this.log.warn(errorLogFields(err), 'plan listener failed'));
    this.statusChanged();
  }

  private reportRetriesExhausted(key: string, attempts: number): void {
    const err = new CoreflowError('COREFLOW_ERR_RETRIES_EXHAUSTED', { object: key, attempts });
    const [kind, ...rest] = key.split('/');
    this.bus.emit({ type: 'error', resourceType: 'retry', ...(kind ? { kind } : {}), name: rest.join('/'), summary: err.message, code: err.code, details: { attempts } });
  }

  /**
   * An operator's retry of one object (`kind/name`, as in /v1/status): ends a hold after an
   * automatic rollback and the stop of its retries, then runs the chain. Throws
   * COREFLOW_ERR_UNKNOWN_OBJECT for an object the last run did not plan.
   */
  async retryObject(key: string): Promise<{ object: string; released: boolean; run?: RunResult }> {
    const r = this.running;
    const known = r?.reconciler.lastResult?.steps.some((s) => s.actions.some((a) => `${a.kind}/${a.name}` === key) || `step/${s.kind}` === key);
    if (!r || !known) throw new CoreflowError('COREFLOW_ERR_UNKNOWN_OBJECT', { object: key });
    const released = this.holds.release(key);
    const reset = r.retry.reset(key);
    this.log.info({ object: key, released, reset }, 'retry asked by an operator');
    const run = await this.gatedRun(`operator retry ${key}`);
    return { object: key, released: released || reset, ...(run ? { run } : {}) };
  }

  /** Triggers a run now; resolves with the result of the run that covers it. */
  reconcile(reason: string): Promise<RunResult | undefined> {
    return this.gatedRun(reason);
  }

  /**
   * Asks the registry for the service's tag again now and runs the chain: a re-pushed tag is rolled
   * out (in place), an unchanged one writes nothing. Resolves with what the run did to the service.
   * Throws COREFLOW_ERR_SERVICE_UNKNOWN for a name the desired state does not have.
   */
  async redeploy(name: string): Promise<RedeployAnswer> {
    const spec = this.desired.get()?.spec;
    const image = spec ? serviceImage(spec, name) : undefined;
    if (image === undefined) throw new CoreflowError('COREFLOW_ERR_SERVICE_UNKNOWN', { service: name });
    if (image) this.images.expire([image]);
    this.log.info({ service: name }, 'redeploy asked');
    const result = await this.reconcile(`redeploy ${name}`);
    if (!result) throw new CoreflowError('COREFLOW_ERR_NOT_READY', { details: 'the agent is not running' });
    const a = result.steps.flatMap((s) => s.actions).find((x) => (x.kind === 'service' || x.kind === 'base-service') && x.name === name);
    const step = result.steps.find((s) => s.kind === (spec?.services.some((x) => x.name === name) ? 'services' : 'base-services'));
    return {
      service: name,
      runId: result.runId,
      status: a?.status ?? step?.status ?? result.status,
      ...(a ? { action: a.type, reason: a.reason } : {}),
      ...(a?.diff ? { diff: a.diff } : {}),
      ...(a?.error ?? step?.error ? { error: a?.error ?? step?.error } : {}),
      ...(a?.warning ? { warning: a.warning } : {}),
    };
  }

  /** Aborts the Docker calls in flight first, so no part waits on a hung engine; then stops the parts in reverse order. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.running?.docker.close();
    while (this.started.length > 0) {
      const part = this.started.pop()!;
      await part.stop().catch((err: unknown) => this.log.error({ part: part.name, err: String(err) }, 'stop failed'));
    }
    this.log.info('stopped');
  }
}
