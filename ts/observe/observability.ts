import { join } from 'node:path';
import type { CoreflowConfig } from '../config/config.ts';
import { DriftController, ownedNames } from '../controllers/drift.ts';
import { EventRetentionController } from '../controllers/event-retention.ts';
import { GarbageController } from '../controllers/garbage.ts';
import { ControllerManager } from '../controllers/manager.ts';
import { TaskHealthController, type TaskCount } from '../controllers/task-health.ts';
import type { DockerConnection } from '../docker/client.ts';
import { errorText } from '../errors.ts';
import { RetryScheduler } from '../reconcile/retry.ts';
import { StateFile } from '../reconcile/state-file.ts';
import type { RunObserver, RunResult } from '../reconcile/types.ts';
import type { InternalServer } from '../server/internal-server.ts';
import { registerObserveRoutes } from '../server/observe-routes.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { ErrorReporter } from './error-reports.ts';
import { EventLog } from './event-log.ts';
import { EventBus } from './events.ts';
import type { Logger } from './logger.ts';
import { AgentMetrics } from './metrics.ts';
import { isDrift, runEventsObserver } from './run-events.ts';
import { buildStatus, type AgentStatus } from './status.ts';

/** What the observability part needs from the agent once Docker and the reconciler exist. */
export interface ObserveDeps {
  connection: DockerConnection;
  trigger: (reason: string) => void;
  busy: () => boolean;
  spec: () => ClusterSpec | undefined;
  lastResult: () => RunResult | undefined;
}

/**
 * Everything issue 6 adds to the agent, behind one small surface so agent.ts stays a list of
 * parts: the event bus (+ on-disk log), metrics, status, state file, retry with backoff, and the
 * background controllers (drift, task health, garbage, event retention) in one manager.
 */
export class AgentObservability {
  readonly bus = new EventBus();
  readonly metrics: AgentMetrics;
  readonly eventLog: EventLog;
  readonly stateFile: StateFile;
  readonly manager: ControllerManager;
  readonly runObserver: RunObserver;
  private readonly errors: ErrorReporter;
  private retry: RetryScheduler | undefined;
  private taskHealth: TaskHealthController | undefined;
  private drift: DriftController | undefined;
  private deps: ObserveDeps | undefined;
  private owned = new Set<string>();
  private stopCalls: (() => void) | undefined;
  private readonly statusListeners = new Set<(s: AgentStatus) => void>();

  constructor(
    private readonly config: CoreflowConfig,
    private readonly log: Logger,
    opts: { defaultMetrics?: boolean } = {},
  ) {
    this.metrics = new AgentMetrics(opts);
    this.eventLog = new EventLog(join(config.stateDir, 'events.jsonl'));
    this.stateFile = new StateFile(config.stateDir);
    this.errors = new ErrorReporter(this.bus);
    this.runObserver = runEventsObserver(this.bus);
    this.manager = new ControllerManager({ log: log.child({ component: 'controllers' }), metrics: this.metrics, defaultTimeoutMs: config.controllerTimeoutMs });
    this.bus.subscribe((e) => void this.eventLog.append(e));
  }

  registerRoutes(server: InternalServer): void {
    registerObserveRoutes(server.router, { metrics: this.metrics, bus: this.bus, status: () => this.status() });
  }

  /** Reads the last state file (lineage and serial carry on). */
  async loadState(): Promise<void> {
    const s = await this.stateFile.load();
    if (s) this.log.info({ lineage: s.lineage, serial: s.serial, resources: s.resources.length }, 'state file loaded');
  }

  /** Wires Docker and the reconciler in and builds the controllers (not started yet). */
  attach(deps: ObserveDeps): void {
    this.deps = deps;
    const { config, log } = this;
    const docker = deps.connection.docker;
    this.stopCalls = this.metrics.countDockerCalls(deps.connection.calls);
    this.retry = new RetryScheduler({ baseMs: config.retryBaseMs, maxMs: config.retryMaxMs, trigger: deps.trigger, log: log.child({ component: 'retry' }) });
    this.taskHealth = new TaskHealthController({ docker, cluster: () => deps.spec()?.cluster.name, intervalMs: config.taskHealthIntervalMs, bus: this.bus, onChange: () => this.statusChanged() });
    this.drift = new DriftController({ docker, log: log.child({ component: 'drift' }), owned: () => this.owned, trigger: deps.trigger, busy: deps.busy, bus: this.bus });
    this.manager.register(this.taskHealth);
    this.manager.register(this.drift);
    this.manager.register(
      new GarbageController({
        docker,
        log: log.child({ component: 'garbage' }),
        desired: () => {
          const spec = deps.spec();
          return spec ? { cluster: spec.cluster.name, networks: Object.values(spec.networks).map((n) => n.name) } : undefined;
        },
        busy: deps.busy,
        keep: () => this.owned,
        intervalMs: config.garbageIntervalMs,
        graceMs: config.garbageGraceMs,
        bus: this.bus,
      }),
    );
    this.manager.register(new EventRetentionController(this.eventLog, { maxAgeMs: config.eventLogMaxAgeHours * 3_600_000, maxBytes: config.eventLogMaxBytes }));
  }

  /** Called after every run of the chain: metrics, error reports, retries, state file, drift's view of what we own. */
  afterRun(result: RunResult): void {
    const m = this.metrics;
    m.recordReconcile('chain', result.durationMs / 1000, result.status === 'succeeded' ? 'success' : result.status === 'failed' ? 'error' : 'partial', result.steps.reduce((n, s) => n + s.actions.length, 0));
    if (result.dryRun) return;
    this.owned = ownedNames(result.steps);
    const byKind = new Map<string, number>();
    let drifted = 0;
    for (const step of result.steps) {
      for (const a of step.actions) {
        if (isDrift(a)) drifted++;
        if ((a.type === 'delete' && a.status === 'succeeded') || (a.type === 'create' && a.status !== 'succeeded') || (a.type === 'skip' && a.status === 'failed')) continue;
        byKind.set(a.kind, (byKind.get(a.kind) ?? 0) + 1);
      }
    }
    m.ownedObjects.reset();
    for (const [kind, n] of byKind) m.ownedObjects.set({ kind }, n);
    m.driftedObjects.set(drifted);
    this.errors.afterRun(result);
    this.retry?.afterRun(result);
    this.stateFile.write(result).catch((err: unknown) => this.log.error({ err: errorText(err), path: this.stateFile.path }, 'cannot write the state file'));
    // Health changes quickly after a run (new tasks): look now rather than at the next interval.
    if (this.taskHealth) this.manager.kick(this.taskHealth.name);
    this.statusChanged();
  }

  /**
   * Hears the status after every run and whenever a service's health changes (the control-plane
   * client forwards it with reportStatus). Returns the unsubscribe.
   */
  onStatus(listener: (s: AgentStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private statusChanged(): void {
    if (this.statusListeners.size === 0) return;
    const s = this.status();
    for (const l of this.statusListeners) {
      try {
        l(s);
      } catch (err) {
        this.log.warn({ err: errorText(err) }, 'status listener failed');
      }
    }
  }

  async startControllers(): Promise<void> {
    await this.drift?.start();
    await this.manager.start();
  }

  async stop(): Promise<void> {
    this.retry?.stop();
    await this.drift?.stop();
    await this.manager.stop();
    this.stopCalls?.();
    await this.eventLog.flush();
  }

  /** Running and desired tasks by service, from the task-health controller's last check. */
  taskCounts(): Record<string, TaskCount> {
    return Object.fromEntries(this.taskHealth?.counts ?? []);
  }

  status(): AgentStatus {
    return buildStatus({
      result: this.deps?.lastResult(),
      health: this.taskHealth?.health ?? new Map(),
      healthCheckedAt: this.taskHealth?.checkedAt ?? 0,
      busy: this.deps?.busy() ?? false,
      waiting: this.retry?.waiting ?? new Set(),
      controllers: this.manager.states(),
      state: this.stateFile.identity,
    });
  }
}
