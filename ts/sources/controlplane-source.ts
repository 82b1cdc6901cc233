import type { CoreflowConfig } from '../config/config.ts';
import type { TaskCount } from '../controllers/task-health.ts';
import { CoreflowError, errorText, isCoreflowError } from '../errors.ts';
import type { PendingPlan } from '../reconcile/approvals.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import type { AgentStatus } from '../observe/status.ts';
import type { RedeployAnswer, ResponseOf } from '../protocol/methods.ts';
import type { RunResult } from '../reconcile/types.ts';
import type { CertificateProvider } from '../routing/certificates.ts';
import { SerialQueue } from '../serial-queue.ts';
import { specErrors } from '../spec/parse.ts';
import { controlPlaneCertificates } from './controlplane-certificates.ts';
import { ControlPlaneConnection } from './controlplane-connection.ts';
import { ControlPlaneReporter } from './controlplane-reporter.ts';
import type { DesiredState } from './desired-state.ts';
import { SavedConfig } from './saved-config.ts';

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
  /** A connection that stayed authenticated this long was healthy: its loss restarts the backoff (default 5 s). */
  healthyAfterMs?: number;
  /** How long start() waits for the control plane's config before falling back to the saved one. */
  firstConfigWaitMs?: number;
  /** Running tasks per service for reports, as task health last saw them (optional). */
  taskCounts?: () => Record<string, TaskCount>;
  /** The agent's three-axis status (/v1/status) for reports; without it, the status the last run alone gives. */
  status?: () => AgentStatus;
  /** Health reports between runs: at most one per this many ms (default 5000). */
  healthReportIntervalMs?: number;
  /** Serves the control plane's redeployService (the agent's redeploy); without it the method is unknown. */
  redeploy?: (service: string) => Promise<RedeployAnswer>;
  /** What the control plane may ask of the operator (approvePlan, setSuspended); without it, those requests fail. */
  operator?: OperatorHooks;
}

/** The agent's operator controls, as the control plane reaches them. */
export interface OperatorHooks {
  pendingPlan(): PendingPlan | undefined;
  approve(planId: string): Promise<RunResult>;
  setSuspended(service: string, suspended: boolean): Promise<boolean>;
}

type PushAnswer = ResponseOf<'pushClusterConfig'>;

/**
 * Control-plane mode's source of desired state, composed of one module per job: the connection
 * (dial, auth, backoff: controlplane-connection.ts), reporting (controlplane-reporter.ts),
 * certificates (controlplane-certificates.ts), and here, taking in configs: fetched on every
 * connect and pushed. Every accepted config is saved atomically in the state directory and
 * offered to the desired state; a rejected one is answered with every error and changes nothing.
 * A lost connection changes nothing either: the last accepted config stays in force until a new
 * one is accepted.
 */
export class ControlPlaneSource implements CertificateProvider, Lifecycle {
  readonly name = 'controlplane-source';
  private readonly connection: ControlPlaneConnection;
  private readonly reporter: ControlPlaneReporter;
  private readonly certificates: CertificateProvider;
  private readonly saved: SavedConfig;
  private readonly saving = new SerialQueue();
  private firstOutcome: (() => void) | undefined;

  constructor(private readonly opts: ControlPlaneSourceOptions) {
    this.saved = new SavedConfig(opts.stateDir, opts.desired.reader);
    this.connection = new ControlPlaneConnection(opts, {
      serve: (peer) => {
        peer.handle('pushClusterConfig', (req) => this.accept(req.spec, `control plane push${req.reason ? ` (${req.reason})` : ''}`));
        peer.handle('approvePlan', async (req) => {
          const run = await this.operator().approve(req.planId);
          return { planId: req.planId, runId: run.runId, status: run.status };
        });
        peer.handle('setSuspended', async (req) => ({ ...req, changed: await this.operator().setSuspended(req.service, req.suspended) }));
        const { redeploy } = opts;
        if (redeploy) peer.handle('redeployService', (req) => redeploy(req.service));
      },
      established: async (session) => {
        const config = await session.peer.request('getClusterConfig', {});
        await this.accept(config.spec, 'control plane (getClusterConfig)');
        this.reporter.flush();
        const plan = opts.operator?.pendingPlan();
        if (plan) this.planChanged(plan);
      },
      settled: () => this.firstOutcome?.(),
    });
    const session = () => this.connection.session;
    this.reporter = new ControlPlaneReporter({ ...opts, session });
    this.certificates = controlPlaneCertificates(session);
  }

  get connected(): boolean {
    return this.connection.session !== undefined;
  }

  /**
   * Starts dialling and waits for the first outcome (a config, a failure, or firstConfigWaitMs).
   * Without a config from the control plane by then, the saved config (if any) is put in force.
   */
  async start(): Promise<void> {
    const { log } = this.opts;
    const first = new Promise<void>((resolve) => (this.firstOutcome = resolve));
    await this.connection.start();
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
    this.reporter.stop();
    await this.connection.stop();
    await this.saving.idle();
  }

  /** Sends a run's report; kept (only the newest) until a connection is up when there is none. */
  report(result: RunResult): void {
    this.reporter.report(result);
  }

  /** The agent's status changed between runs: a coalesced health report (ControlPlaneReporter). */
  statusChanged(): void {
    this.reporter.statusChanged();
  }

  /** The plan waiting for approval changed: tells the control plane (reportPlan) when connected; a new connection hears the current one. */
  planChanged(plan: PendingPlan | undefined): void {
    const session = this.connection.session;
    if (!session) return;
    session.peer.request('reportPlan', { plan: plan ?? null }).catch((err: unknown) => this.opts.log.warn({ err: errorText(err), plan: plan?.id ?? null }, 'plan report not delivered'));
  }

  private operator(): OperatorHooks {
    if (!this.opts.operator) throw new CoreflowError('COREFLOW_ERR_UNKNOWN_METHOD', { method: 'operator controls' });
    return this.opts.operator;
  }

  /** Routing's certificate provider: the control plane's getCertificateForDomain. */
  getCertificateForDomain(domain: string): Promise<{ publicKey: string; privateKey: string } | undefined> {
    return this.certificates.getCertificateForDomain(domain);
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
      const expected = this.connection.session?.identity.clusterName;
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
    return this.saving.run(run);
  }
}

/** The source for the agent's config (control-plane mode). */
export function controlPlaneSource(
  config: CoreflowConfig,
  desired: DesiredState,
  log: Logger,
  extra: Pick<ControlPlaneSourceOptions, 'taskCounts' | 'status' | 'redeploy' | 'operator'> = {},
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
