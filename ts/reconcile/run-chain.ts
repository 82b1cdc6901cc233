import { CoreflowError, errorCode, errorLogFields, errorText } from '../errors.ts';
import { callGuarded } from '../guarded.ts';
import { controlAction } from './controls.ts';
import type { Action, ActionResult, RunContext, RunObserver, Step, StepResult } from './types.ts';

/** Calls an observer hook; an observer failure (thrown or rejected) is logged and never reaches the run. */
export function notify<K extends keyof RunObserver>(ctx: Pick<RunContext, 'observer' | 'log'>, hook: K, ...args: Parameters<NonNullable<RunObserver[K]>>): void {
  const fn = ctx.observer?.[hook] as ((...a: unknown[]) => unknown) | undefined;
  if (!fn) return;
  callGuarded(
    () => fn.apply(ctx.observer, args),
    (err) => ctx.log.error({ hook, ...errorLogFields(err) }, 'run observer failed'),
  );
}

/** Whether a terminal failure is new (log it at error level) or was already reported for this desired state. */
function firstReport(ctx: RunContext, key: string, error: string): boolean {
  const seen = ctx.reportedTerminal;
  if (!seen) return true;
  if (seen.get(key) === error) return false;
  seen.set(key, error);
  return true;
}

/** Bad input (a terminal CoreflowError, or Docker rejecting the request as invalid): retrying cannot fix it. */
export function isTerminalError(err: unknown): boolean {
  if (!(err instanceof CoreflowError)) return false;
  if (err.code === 'COREFLOW_ERR_DOCKER_API') return Number(err.params.status) === 400;
  return err.terminal;
}

/** Copies the printable part of an action; the payload never leaves the applier. */
export function describeAction(a: Action): Omit<ActionResult, 'status' | 'durationMs'> {
  return {
    kind: a.kind,
    name: a.name,
    type: a.type,
    reason: a.reason,
    ...(a.diff ? { diff: a.diff } : {}),
    ...(a.held ? { held: a.held } : {}),
    ...(a.warning ? { warning: a.warning, ...(a.warningCode ? { warningCode: a.warningCode } : {}) } : {}),
  };
}

async function runStep(step: Step, ctx: RunContext): Promise<StepResult> {
  const started = Date.now();
  const log = ctx.log.child({ step: step.kind });
  let live: unknown;
  let actions: Action[];
  notify(ctx, 'stepStarted', ctx.runId, step.kind);
  try {
    live = await step.observe(ctx);
    actions = step.plan(ctx.spec, live, ctx).map((a) => controlAction(a, ctx.controls));
  } catch (err) {
    log.error(errorLogFields(err), 'step failed before applying');
    const failed: StepResult = { kind: step.kind, status: 'failed', error: errorText(err), code: errorCode(err), actions: [], durationMs: Date.now() - started };
    notify(ctx, 'stepFinished', ctx.runId, failed, ctx.dryRun);
    return failed;
  }
  notify(ctx, 'stepPlanned', ctx.runId, step.kind, actions.map(describeAction), Date.now() - started, ctx.dryRun);
  const applyOne = async (action: Action): Promise<ActionResult> => {
    const t0 = Date.now();
    const base = describeAction(action);
    if (action.type === 'skip') return { ...base, status: 'skipped', durationMs: 0 };
    if (action.blocked) {
      const again = action.blocked.status === 'failed' && !firstReport(ctx, `${action.kind}/${action.name}`, action.blocked.reason);
      log[again ? 'debug' : 'warn']({ action: base }, action.blocked.reason);
      return { ...base, status: action.blocked.status, error: action.blocked.reason, code: action.blocked.code, ...(action.blocked.status === 'failed' ? { terminal: true } : {}), durationMs: 0 };
    }
    if (ctx.dryRun) return { ...base, status: 'planned', durationMs: 0 };
    if (ctx.signal.aborted) return { ...base, status: 'skipped', error: 'not applied: the run was stopped', durationMs: 0 };
    let result: ActionResult;
    try {
      await step.apply(action, ctx, live);
      log.info({ action: action.type, name: action.name, reason: action.reason }, `${action.type} ${action.kind} ${action.name}`);
      result = { ...base, status: 'succeeded', durationMs: Date.now() - t0 };
    } catch (err) {
      const again = isTerminalError(err) && !firstReport(ctx, `${action.kind}/${action.name}`, errorText(err));
      log[again ? 'debug' : 'error']({ action: action.type, name: action.name, ...errorLogFields(err) }, `${action.type} ${action.kind} ${action.name} failed`);
      result = { ...base, status: 'failed', error: errorText(err), code: errorCode(err), ...(isTerminalError(err) ? { terminal: true } : {}), durationMs: Date.now() - t0 };
    } finally {
      // Whatever the write did (or half did), later steps must list again.
      ctx.cache.clear();
    }
    notify(ctx, 'actionApplied', ctx.runId, step.kind, result);
    return result;
  };
  // Results keep the plan's order whatever order the actions finish in.
  const results: ActionResult[] = new Array(actions.length);
  let next = 0;
  const worker = async () => {
    while (next < actions.length) {
      const i = next++;
      results[i] = await applyOne(actions[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(step.applyConcurrency ?? 1, actions.length)) }, worker));
  const failed = results.filter((r) => r.status === 'failed');
  const status = failed.length > 0 && step.objectFailuresBlockDependents !== false ? 'failed' : 'succeeded';
  const error = status === 'failed' ? failed.map((r) => `${r.name}: ${r.error}`).join('; ') : undefined;
  const code = status === 'failed' ? failed[0]!.code : undefined;
  const result: StepResult = { kind: step.kind, status, ...(error ? { error } : {}), ...(code ? { code } : {}), actions: results, durationMs: Date.now() - started };
  notify(ctx, 'stepFinished', ctx.runId, result, ctx.dryRun);
  return result;
}

/**
 * Runs steps (already in dependency order). A step whose dependency failed or was blocked is
 * not run and reports which one; the others go on.
 */
export async function runChain(steps: readonly Step[], ctx: RunContext): Promise<StepResult[]> {
  const results = new Map<string, StepResult>();
  for (const step of steps) {
    const bad = step.dependsOn.map((d) => results.get(d)).find((r) => r && r.status !== 'succeeded');
    if (bad) {
      const error = new CoreflowError('COREFLOW_ERR_STEP_BLOCKED', { dependency: bad.kind });
      results.set(step.kind, { kind: step.kind, status: 'blocked', error: error.message, code: error.code, actions: [], durationMs: 0 });
      continue;
    }
    results.set(step.kind, await runStep(step, ctx));
  }
  return [...results.values()];
}
