import { randomUUID } from 'node:crypto';
import { CoreflowError, errorCode, errorLogFields, errorText } from '../errors.ts';
import { callGuarded } from '../guarded.ts';
import type { Logger } from '../observe/logger.ts';
import type { LoadedSpec } from '../spec/parse.ts';
import { Coalescer } from '../coalescer.ts';
import { nextPlan, type ApplyMode, type PendingPlan } from './approvals.ts';
import { actionKey, type RunControls } from './controls.ts';
import { orderSteps } from './order.ts';
import { RunCache } from './run-cache.ts';
import { RunModel } from './run-model.ts';
import { notify, runChain } from './run-chain.ts';
import { summarize } from './summarize.ts';
import type { RunObserver, RunResult, Step } from './types.ts';

export interface ReconcilerOptions {
  steps: readonly Step[];
  /** The newest good desired state, read at the start of every run; undefined: nothing to do yet. */
  desired: () => LoadedSpec | undefined;
  log: Logger;
  dryRun?: boolean;
  confirmMassDeletion?: boolean;
  /** A run that takes longer is told to stop between actions. Default 10 minutes. */
  runTimeoutMs?: number;
  /** Hears every run's result; what it throws (or rejects) is logged, never reaches the caller. */
  onResult?: (result: RunResult) => void;
  /** Optional lifecycle observer (the event bus); see RunObserver. */
  observer?: RunObserver;
  /** Suspensions and targets for a run on this desired state (see RunControls). */
  controls?: (loaded: LoadedSpec) => RunControls | undefined;
  /**
   * `approve`: a run that would write stops at its plan until `approve(id)`; `auto`: runs apply,
   * and only deletions held by the mass-deletion guard wait as a plan. Unset (one-shot CLI runs):
   * no plans are made at all.
   */
  applyMode?: ApplyMode;
  /** Hears the plan waiting for approval whenever it changes (undefined: none waits any more). */
  onPlan?: (plan: PendingPlan | undefined) => void;
}

interface Approval {
  plan: PendingPlan;
  resolve: (r: RunResult) => void;
  reject: (err: unknown) => void;
}

/**
 * The buffered chain. `trigger()` starts a run, or, while one runs, marks that exactly one more
 * run must follow; however many triggers arrive meanwhile, they collapse into that one run, and
 * it reads the newest desired state when it starts.
 */
export class Reconciler {
  private readonly steps: Step[];
  private readonly runs = new Coalescer<string, RunResult | undefined>((reasons) => this.runOnce(reasons.join(', ')));
  private readonly stopping = new AbortController();
  private last: RunResult | undefined;
  /** Terminal failures logged for the desired state `reportedFor` (see RunContext.reportedTerminal). */
  private readonly reported = new Map<string, string>();
  private reportedFor = '';
  private pending: PendingPlan | undefined;
  private approval: Approval | undefined;
  /** Ids of plans that waited before the current one (a newer run replaced or applied them). */
  private readonly superseded = new Map<string, string>();

  constructor(private readonly opts: ReconcilerOptions) {
    this.steps = orderSteps(opts.steps);
  }

  get lastResult(): RunResult | undefined {
    return this.last;
  }

  get busy(): boolean {
    return this.runs.busy;
  }

  /** Resolves with the result of the run that covers this trigger (undefined without a desired state). */
  trigger(reason: string): Promise<RunResult | undefined> {
    return this.runs.trigger(reason);
  }

  /** Stops between actions; resolves when the current run (if any) has ended. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.runs.stop();
  }

  /** The plan waiting for approval, if any. */
  get pendingPlan(): PendingPlan | undefined {
    return this.pending;
  }

  /**
   * Applies the waiting plan `planId` exactly. Rejects with COREFLOW_ERR_PLAN_UNKNOWN when no plan
   * of that id waits, and with COREFLOW_ERR_PLAN_STALE when the desired or live state changed
   * since it was made (then a new plan waits, named in the error); resolves with the run that
   * applied it.
   */
  approve(planId: string): Promise<RunResult> {
    const p = this.pending;
    const newer = this.superseded.get(planId);
    if (newer !== undefined) {
      const details = `the desired or live state changed since it was made; ${p ? `the new plan is ${p.id}` : 'nothing waits for approval any more'}`;
      return Promise.reject(new CoreflowError('COREFLOW_ERR_PLAN_STALE', { id: planId, details }));
    }
    if (!p || p.id !== planId) {
      return Promise.reject(new CoreflowError('COREFLOW_ERR_PLAN_UNKNOWN', { id: planId, details: p ? `the plan waiting is ${p.id}` : 'no plan is waiting' }));
    }
    if (this.approval) return Promise.reject(new CoreflowError('COREFLOW_ERR_PLAN_UNKNOWN', { id: planId, details: `an approval of ${this.approval.plan.id} is being applied` }));
    return new Promise<RunResult>((resolve, reject) => {
      this.approval = { plan: p, resolve, reject };
      // The run that covers this trigger takes the approval; if none did (stopping), it is refused.
      this.trigger(`plan ${planId} approved`).then(
        () => this.settleApproval((a) => a.reject(new CoreflowError('COREFLOW_ERR_PLAN_STALE', { id: planId, details: 'the agent is stopping; nothing was applied' }))),
        (err: unknown) => this.settleApproval((a) => a.reject(err)),
      );
    });
  }

  private settleApproval(settle: (a: Approval) => void): void {
    const a = this.approval;
    this.approval = undefined;
    if (a) settle(a);
  }

  private setPending(plan: PendingPlan | undefined): void {
    if (plan === this.pending) return;
    if (this.pending) {
      this.superseded.set(this.pending.id, plan?.id ?? '');
      // Remembered only to tell "stale" from "unknown": the last few are enough.
      if (this.superseded.size > 32) this.superseded.delete(this.superseded.keys().next().value!);
    }
    this.pending = plan;
    const { onPlan } = this.opts;
    if (onPlan) callGuarded(() => onPlan(plan), (err) => this.opts.log.error(errorLogFields(err), 'plan listener failed'));
  }

  private async runOnce(trigger: string): Promise<RunResult | undefined> {
    const loaded = this.opts.desired();
    if (!loaded) {
      this.opts.log.info({ trigger }, 'no desired state yet; nothing to reconcile');
      this.settleApproval((a) => a.reject(new CoreflowError('COREFLOW_ERR_PLAN_STALE', { id: a.plan.id, details: 'there is no desired state' })));
      return undefined;
    }
    if (loaded.hash !== this.reportedFor) {
      this.reported.clear();
      this.reportedFor = loaded.hash;
    }
    const mode = this.opts.applyMode ?? 'auto';
    const dryRun = this.opts.dryRun ?? false;
    const controls = this.opts.controls?.(loaded);
    if (dryRun) return this.finish(await this.execute(loaded, trigger, true, controls));
    const approval = this.approval;
    this.approval = undefined;
    if (approval) {
      // Plan again: the approval holds only if this plan is the approved one.
      const fresh = await this.execute(loaded, trigger, true, controls);
      const next = nextPlan(approval.plan, fresh, mode);
      if (next !== approval.plan) {
        this.setPending(next);
        const details = `the desired or live state changed since it was made; ${next ? `the new plan is ${next.id}` : 'nothing waits for approval any more'}`;
        approval.reject(new CoreflowError('COREFLOW_ERR_PLAN_STALE', { id: approval.plan.id, details }));
        return this.finish(next ? { ...fresh, plan: { id: next.id, status: 'waiting' } } : { ...fresh, dryRun: false });
      }
      const keys = new Set(approval.plan.changes.map(actionKey));
      const applied = await this.execute(loaded, trigger, false, { ...controls, approved: { planId: approval.plan.id, keys, only: mode === 'approve' } });
      this.setPending(mode === 'auto' ? nextPlan(undefined, applied, mode) : undefined);
      const result = this.finish(applied);
      approval.resolve(result);
      // What the approved plan did not hold (the state moved while it was applied) is planned anew.
      if (mode === 'approve' && applied.steps.some((st) => st.actions.some((a) => a.code === 'COREFLOW_ERR_PLAN_STALE'))) void this.trigger('changes outside the approved plan');
      return result;
    }
    if (mode === 'approve') {
      const planned = await this.execute(loaded, trigger, true, controls);
      const plan = nextPlan(this.pending, planned, mode);
      this.setPending(plan);
      // Nothing to write: the dry run is this run's result as it is.
      return this.finish(plan ? { ...planned, plan: { id: plan.id, status: 'waiting' } } : { ...planned, dryRun: false });
    }
    const result = await this.execute(loaded, trigger, false, controls);
    if (!this.opts.applyMode) return this.finish(result);
    const plan = nextPlan(this.pending, result, mode);
    this.setPending(plan);
    return this.finish(plan ? { ...result, plan: { id: plan.id, status: 'waiting' } } : result);
  }

  /** One pass of the chain over `loaded`: a dry run plans only. */
  private async execute(loaded: LoadedSpec, trigger: string, dryRun: boolean, controls: RunControls | undefined): Promise<RunResult> {
    const runId = randomUUID().slice(0, 8);
    const log = this.opts.log.child({ run: runId });
    const timeout = AbortSignal.timeout(this.opts.runTimeoutMs ?? 600_000);
    const signal = AbortSignal.any([this.stopping.signal, timeout]);
    const startedAt = new Date();
    log.info({ trigger, specHash: loaded.hash, dryRun }, 'run started');
    const observer = this.opts.observer;
    notify({ observer, log }, 'runStarted', { runId, trigger, dryRun });
    let steps;
    try {
      steps = await runChain(this.steps, {
        cache: new RunCache(),
        model: new RunModel(),
        runId,
        spec: loaded.spec,
        dryRun,
        confirmMassDeletion: this.opts.confirmMassDeletion ?? false,
        ...(controls ? { controls } : {}),
        log,
        signal,
        ...(observer ? { observer } : {}),
        reportedTerminal: this.reported,
      });
    } catch (err) {
      // runChain catches per step; this is the catch-all guard around the whole run.
      log.error(errorLogFields(err), 'run crashed');
      steps = [{ kind: 'run', status: 'failed' as const, error: errorText(err), code: errorCode(err), actions: [], durationMs: Date.now() - startedAt.getTime() }];
    }
    const finishedAt = new Date();
    const { status, summary } = summarize(steps);
    return {
      runId,
      trigger,
      dryRun,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      status,
      specHash: loaded.hash,
      steps,
      summary,
    };
  }

  /** Records a run's result and tells the listeners. */
  private finish(result: RunResult): RunResult {
    const log = this.opts.log.child({ run: result.runId });
    log.info({ status: result.status, summary: result.summary, durationMs: result.durationMs, ...(result.plan ? { plan: result.plan.id } : {}) }, result.plan ? 'run stopped at its plan; waiting for approval' : 'run finished');
    this.last = result;
    const observer = this.opts.observer;
    notify({ observer, log }, 'runFinished', result);
    const { onResult } = this.opts;
    if (onResult) callGuarded(() => onResult(result), (err) => log.error(errorLogFields(err), 'result listener failed'));
    return result;
  }
}
