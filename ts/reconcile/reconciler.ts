import { randomUUID } from 'node:crypto';
import { errorCode, errorLogFields, errorText } from '../errors.ts';
import { callGuarded } from '../guarded.ts';
import type { Logger } from '../observe/logger.ts';
import type { LoadedSpec } from '../spec/parse.ts';
import { Coalescer } from '../coalescer.ts';
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

  private async runOnce(trigger: string): Promise<RunResult | undefined> {
    const loaded = this.opts.desired();
    if (!loaded) {
      this.opts.log.info({ trigger }, 'no desired state yet; nothing to reconcile');
      return undefined;
    }
    const runId = randomUUID().slice(0, 8);
    const log = this.opts.log.child({ run: runId });
    const timeout = AbortSignal.timeout(this.opts.runTimeoutMs ?? 600_000);
    const signal = AbortSignal.any([this.stopping.signal, timeout]);
    const startedAt = new Date();
    log.info({ trigger, specHash: loaded.hash, dryRun: this.opts.dryRun ?? false }, 'run started');
    const observer = this.opts.observer;
    if (loaded.hash !== this.reportedFor) {
      this.reported.clear();
      this.reportedFor = loaded.hash;
    }
    notify({ observer, log }, 'runStarted', { runId, trigger, dryRun: this.opts.dryRun ?? false });
    let steps;
    try {
      steps = await runChain(this.steps, {
        cache: new RunCache(),
        model: new RunModel(),
        runId,
        spec: loaded.spec,
        dryRun: this.opts.dryRun ?? false,
        confirmMassDeletion: this.opts.confirmMassDeletion ?? false,
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
    const result: RunResult = {
      runId,
      trigger,
      dryRun: this.opts.dryRun ?? false,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      status,
      specHash: loaded.hash,
      steps,
      summary,
    };
    log.info({ status, summary, durationMs: result.durationMs }, 'run finished');
    this.last = result;
    notify({ observer, log }, 'runFinished', result);
    const { onResult } = this.opts;
    if (onResult) callGuarded(() => onResult(result), (err) => log.error(errorLogFields(err), 'result listener failed'));
    return result;
  }
}
