import { join } from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import { defaultSteps } from './chain-steps.ts';
import type { CoreflowConfig } from './config/config.ts';
import { DriftController, DRIFT_EVENT_TYPES } from './controllers/drift.ts';
import { EventRetentionController } from './controllers/event-retention.ts';
import { GarbageController } from './controllers/garbage.ts';
import { ControllerManager } from './controllers/manager.ts';
import { OwnedObjects } from './controllers/owned-objects.ts';
import { TaskHealthController, type TaskCount } from './controllers/task-health.ts';
import { connectDocker, type DockerConnection } from './docker/client.ts';
import { DockerEventStream, type DockerEventSource } from './docker/event-stream.ts';
import { serviceImage } from './docker/image-pin.ts';
import { ImageResolver } from './docker/image-resolver.ts';
import { RegistryClient } from './docker/registry-client.ts';
import { dnsStepOptions } from './dns/token.ts';
import { bindingsStepOptions } from './storage/corestore-token.ts';
import { CoreflowError, errorLogFields, errorText } from './errors.ts';
import { callGuarded } from './guarded.ts';
import type { Lifecycle } from './lifecycle.ts';
import { EventLog } from './observe/event-log.ts';
import { EventBus } from './observe/events.ts';
import type { Logger } from './observe/logger.ts';
import { AgentMetrics } from './observe/metrics.ts';
import { buildStatus, type AgentStatus } from './observe/status.ts';
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
  private readonly errors: ErrorReporter;
  private readonly resultListeners = new Set<ResultListener>();
  private readonly statusListeners = new Set<(s: AgentStatus) => void>();
  private readonly started: Lifecycle[] = [];
  private running: Running | undefined;
  private firstRunDone = false;
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
    this.server.addReadiness({ name: 'first-run', check: () => (this.firstRunDone ? true : 'the first run has not finished') });
    this.eventLog = new EventLog(join(config.stateDir, 'events.jsonl'));
    this.bus.subscribe((e) => void this.eventLog.append(e));
    this.stateFile = new StateFile(config.stateDir);
    this.errors = new ErrorReporter(this.bus);
    this.controllers = new ControllerManager({ log: log.child({ component: 'controllers' }), metrics: this.metrics, defaultTimeoutMs: config.controllerTimeoutMs });
    registerObserveRoutes(this.server.router, { metrics: this.metrics, bus: this.bus, status: () => this.status() });
    registerRetryRoute(this.server.router, (key) => this.retryObject(key));
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

  async start(): Promise<void> {
    const { config, log } = this;
    if (!config.spec && !config.cloudlyUrl) {
      throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'standalone mode needs --spec FILE (or COREFLOW_SPEC); control-plane mode needs CLOUDLY_URL and JUMPCODE' });
    }
    await this.startPart(this.server);
    // Started early: the worker warms up while Docker is connected.
    await this.startPart({ name: 'spec-parser', start: async () => this.specParser.start(), stop: () => this.specParser.close() });

    const docker = await connectDocker({ ...(config.dockerHost ? { host: config.dockerHost } : {}), timeoutMs: config.dockerTimeoutMs });
    log.info({ endpoint: docker.endpoint, apiVersion: docker.apiVersion }, 'connected to Docker');
    const offCalls = docker.calls.onCall((c) => this.metrics.recordDockerCall(c));
    const dockerEvents = new DockerEventStream(docker.docker, { types: [...new Set([...DRIFT_EVENT_TYPES, ...ROUTING_EVENT_TYPES])], log: log.child({ component: 'docker-events' }) });

    // The engine: the chain, its retries with backoff and its state file.
    const state = await this.stateFile.load();
    if (state) log.info({ lineage: state.lineage, serial: state.serial, resources: state.resources.length }, 'state file loaded');
    const reconciler = new Reconciler({
      steps: defaultSteps(docker.docker, {
        dns: dnsStepOptions(config),
        bindings: bindingsStepOptions(config),
        heldServices: (name) => this.holds.get(`service/${name}`),
        images: this.images,
      }),
      desired: () => this.desired.get(),
      log: log.child({ component: 'reconciler' }),
      confirmMassDeletion: config.confirmMassDeletion,
      runTimeoutMs: config.runTimeoutMs,
      observer: runEventsObserver(this.bus),
      onResult: (r) => this.afterRun(r),
    });
    const trigger = (reason: string) => void reconciler.trigger(reason);
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
        offCalls();
        await this.eventLog.flush();
      },
    });

    await this.startPart(dockerEvents);

    // Control-plane mode (CLOUDLY_URL set): config fetched and pushed, a report after every run,
    // and routing's certificates from getCertificateForDomain. Standalone mode: the spec file.
    // The control-plane client is loaded only in control-plane mode.
    const cp = config.cloudlyUrl
      ? (await import('./sources/controlplane-source.ts')).controlPlaneSource(config, this.desired, log.child({ component: 'controlplane-source' }), {
          taskCounts: () => this.taskCounts(),
          status: () => this.status(),
          redeploy: (name) => this.redeploy(name),
        })
      : undefined;
    if (cp) this.certificateProvider ??= cp;
    const routing = new RoutingController({
      docker: docker.docker,
      events: dockerEvents,
      desired: () => this.desired.get(),
      log: log.child({ component: 'routing' }),
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
    // After every run (services may have changed); Docker events and a resync timer do the rest.
    this.onResult(() => routing.trigger('reconcile run finished'));

    if (cp) {
      this.onResult((r) => cp.report(r));
      // The same status as /v1/status: also when a service's health changes between runs.
      this.onStatus(() => cp.statusChanged());
      m.sampleOnScrape(() => m.controlplaneConnected.set(cp.connected ? 1 : 0));
      await this.startPart(cp);
    } else {
      const source = new FileSource(config.spec!, this.desired, log.child({ component: 'file-source' }));
      await this.startPart({ name: 'file-source', start: async () => void (await source.start()), stop: async () => source.stop() });
    }
    // Subscribed after the first load: the start trigger below covers it.
    this.desired.onChange((_l, origin) => trigger(`desired state changed (${origin})`));

    // A resync and every image check ask the registries for every tag again.
    let schedule: ScheduledTask | undefined;
    let imageCheck: NodeJS.Timeout | undefined;
    const recheck = (reason: string) => {
      this.images.expire();
      trigger(reason);
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
    await this.startPart(this.controllers);
    await reconciler.trigger('start');
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
    if (result.dryRun) return;
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
    });
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
    const run = await r.reconciler.trigger(`operator retry ${key}`);
    return { object: key, released: released || reset, ...(run ? { run } : {}) };
  }

  /** Triggers a run now; resolves with the result of the run that covers it. */
  reconcile(reason: string): Promise<RunResult | undefined> {
    return this.running?.reconciler.trigger(reason) ?? Promise.resolve(undefined);
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
    this.running?.docker.close();
    while (this.started.length > 0) {
      const part = this.started.pop()!;
      await part.stop().catch((err: unknown) => this.log.error({ part: part.name, err: String(err) }, 'stop failed'));
    }
    this.log.info('stopped');
  }
}
