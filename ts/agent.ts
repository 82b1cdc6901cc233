import cron, { type ScheduledTask } from 'node-cron';
import type { CoreflowConfig } from './config/config.ts';
import { connectDocker, type DockerConnection } from './docker/client.ts';
import { dnsStepOptions } from './dns/token.ts';
import { CoreflowError, errorLogFields } from './errors.ts';
import { callGuarded } from './guarded.ts';
import type { Logger } from './observe/logger.ts';
import { AgentObservability } from './observe/observability.ts';
import { Reconciler } from './reconcile/reconciler.ts';
import { defaultSteps } from './reconcile/steps.ts';
import type { RunResult } from './reconcile/types.ts';
import type { CertificateProvider } from './routing/certificates.ts';
import { RoutingController } from './routing/routing-controller.ts';
import { registerRoutingEndpoints } from './routing/routing-endpoints.ts';
import { InternalServer } from './server/internal-server.ts';
import { DesiredState } from './sources/desired-state.ts';
import { FileSource } from './sources/file-source.ts';
import { specLimits } from './spec/limits.ts';
import { OffThreadParser } from './spec/off-thread-parser.ts';

/** Anything with a lifecycle that the agent starts and stops in order. */
export interface Lifecycle {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type ResultListener = (result: RunResult) => void;

/**
 * The composition root. Start order: internal server, Docker connection, desired-state source,
 * reconciler (first run), schedule; stop order is the reverse, and a run in progress stops
 * between two actions.
 */
export class Agent {
  readonly desired: DesiredState;
  /** Sources parse and validate documents here, off the event loop, within the spec limits. */
  private readonly specParser: OffThreadParser;
  readonly server: InternalServer;
  /** Event bus, metrics (agent.observe.metrics: other parts set their gauges here), status, controllers. */
  readonly observe: AgentObservability;
  private readonly resultListeners = new Set<ResultListener>();
  private readonly started: Lifecycle[] = [];
  private reconciler: Reconciler | undefined;
  private docker: DockerConnection | undefined;
  private firstRunDone = false;
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
    this.server.addReadiness({ name: 'docker', check: async () => (this.docker ? (await this.docker.docker.ping(), true) : 'not connected') });
    this.server.addReadiness({ name: 'desired-state', check: () => (this.desired.get() ? true : 'no valid desired state loaded') });
    this.server.addReadiness({ name: 'first-run', check: () => (this.firstRunDone ? true : 'the first run has not finished') });
    this.observe = new AgentObservability(config, log);
    this.observe.registerRoutes(this.server);
  }

  get connection(): DockerConnection | undefined {
    return this.docker;
  }

  get lastResult(): RunResult | undefined {
    return this.reconciler?.lastResult;
  }

  onResult(listener: ResultListener): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
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
    await this.startPart({ name: 'internal-server', start: () => this.server.start(), stop: () => this.server.stop() });
    // Started early: the worker warms up while Docker is connected.
    await this.startPart({ name: 'spec-parser', start: async () => this.specParser.start(), stop: () => this.specParser.close() });
    this.docker = await connectDocker(config.dockerHost ? { host: config.dockerHost } : {});
    log.info({ endpoint: this.docker.endpoint, apiVersion: this.docker.apiVersion }, 'connected to Docker');
    const reconciler = new Reconciler({
      steps: defaultSteps(this.docker.docker, { dns: dnsStepOptions(config) }),
      desired: () => this.desired.get(),
      log: log.child({ component: 'reconciler' }),
      confirmMassDeletion: config.confirmMassDeletion,
      runTimeoutMs: config.runTimeoutMs,
      observer: this.observe.runObserver,
      onResult: (r) => {
        this.firstRunDone = true;
        // Each hearer is guarded: one that throws is logged and stops neither the others nor the chain.
        for (const l of [(x: RunResult) => this.observe.afterRun(x), ...this.resultListeners]) {
          callGuarded(() => l(r), (err) => log.error(errorLogFields(err), 'result listener failed'));
        }
      },
    });
    this.reconciler = reconciler;
    await this.observe.loadState();
    this.observe.attach({
      connection: this.docker,
      trigger: (reason) => void reconciler.trigger(reason),
      busy: () => reconciler.busy,
      spec: () => this.desired.get()?.spec,
      lastResult: () => reconciler.lastResult,
    });
    await this.startPart({ name: 'reconciler', start: async () => undefined, stop: () => reconciler.stop() });
    // Control-plane mode (CLOUDLY_URL set): config fetched and pushed, a report after every run,
    // and routing's certificates from getCertificateForDomain. Standalone mode: the spec file.
    // The control-plane client is loaded only in control-plane mode.
    const cp = config.cloudlyUrl
      ? (await import('./sources/controlplane-source.ts')).controlPlaneSource(config, this.desired, log.child({ component: 'controlplane-source' }), { taskCounts: () => this.observe.taskCounts(), status: () => this.observe.status() })
      : undefined;
    if (cp) this.certificateProvider ??= cp;
    const routing = new RoutingController({
      docker: this.docker.docker,
      desired: () => this.desired.get(),
      log: log.child({ component: 'routing' }),
      edgeToken: config.edgeToken,
      pingIntervalMs: config.pingIntervalMs,
      certificateProvider: this.certificateProvider,
      certRefreshBeforeMs: config.certRefreshBeforeHours * 3600_000,
    });
    this.routing = routing;
    registerRoutingEndpoints(this.server, routing, { desired: () => this.desired.get(), edgeToken: config.edgeToken });
    await this.startPart({ name: 'routing', start: () => routing.start(), stop: () => routing.stop() });
    const m = this.observe.metrics;
    m.sampleOnScrape(() => (m.edgeProxiesConnected.set(routing.edge.connections), m.routes.set(routing.current?.table.routes.length ?? 0)));
    // After every run (services may have changed); Docker events and a resync timer do the rest.
    this.onResult(() => routing.trigger('reconcile run finished'));
    if (cp) {
      this.onResult((r) => cp.report(r));
      // The same status as /v1/status: also when a service's health changes between runs.
      this.observe.onStatus(() => cp.statusChanged());
      m.sampleOnScrape(() => m.controlplaneConnected.set(cp.connected ? 1 : 0));
      await this.startPart({ name: 'controlplane-source', start: () => cp.start(), stop: () => cp.stop() });
    } else {
      const source = new FileSource(config.spec!, this.desired, log.child({ component: 'file-source' }));
      await this.startPart({ name: 'file-source', start: async () => void (await source.start()), stop: async () => source.stop() });
    }
    // Subscribed after the first load: the start trigger below covers it.
    this.desired.onChange((_l, origin) => void reconciler.trigger(`desired state changed (${origin})`));
    let schedule: ScheduledTask | undefined;
    await this.startPart({
      name: 'schedule',
      start: async () => void (schedule = cron.schedule(config.resyncCron, () => void reconciler.trigger('scheduled resync'))),
      stop: async () => void (await schedule?.stop()),
    });
    await this.startPart({ name: 'controllers', start: () => this.observe.startControllers(), stop: () => this.observe.stop() });
    await reconciler.trigger('start');
  }

  /** Triggers a run now; resolves with the result of the run that covers it. */
  reconcile(reason: string): Promise<RunResult | undefined> {
    return this.reconciler?.trigger(reason) ?? Promise.resolve(undefined);
  }

  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const part = this.started.pop()!;
      await part.stop().catch((err: unknown) => this.log.error({ part: part.name, err: String(err) }, 'stop failed'));
    }
    this.log.info('stopped');
  }
}
