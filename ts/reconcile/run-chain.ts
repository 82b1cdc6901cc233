import { CoreflowError, errorText } from '../errors.ts';
import type { Action, ActionResult, RunContext, Step, StepResult } from './types.ts';

/** Copies the printable part of an action; the payload never leaves the applier. */
export function describeAction(a: Action): Omit<ActionResult, 'status' | 'durationMs'> {
  return { kind: a.kind, name: a.name, type: a.type, reason: a.reason, ...(a.diff ? { diff: a.diff } : {}) };
}

async function runStep(step: Step, ctx: RunContext): Promise<StepResult> {
  const started = Date.now();
  const log = ctx.log.child({ step: step.kind });
  let live: unknown;
  let actions: Action[];
  try {
    live = await step.observe(ctx);
    actions = step.plan(ctx.spec, live, ctx);
  } catch (err) {
    log.error({ err: errorText(err) }, 'step failed before applying');
    return { kind: step.kind, status: 'failed', error: errorText(err), actions: [], durationMs: Date.now() - started };
  }
  const results: ActionResult[] = [];
  for (const action of actions) {
    const t0 = Date.now();
    const base = describeAction(action);
    if (action.type === 'skip') {
      results.push({ ...base, status: 'skipped', durationMs: 0 });
    } else if (action.blocked) {
      log.warn({ action: base }, action.blocked.reason);
      results.push({ ...base, status: action.blocked.status, error: action.blocked.reason, durationMs: 0 });
    } else if (ctx.dryRun) {
      results.push({ ...base, status: 'planned', durationMs: 0 });
    } else if (ctx.signal.aborted) {
      results.push({ ...base, status: 'skipped', error: 'not applied: the run was stopped', durationMs: 0 });
    } else {
      try {
        await step.apply(action, ctx, live);
        log.info({ action: action.type, name: action.name, reason: action.reason }, `${action.type} ${action.kind} ${action.name}`);
        results.push({ ...base, status: 'succeeded', durationMs: Date.now() - t0 });
      } catch (err) {
        log.error({ action: action.type, name: action.name, err: errorText(err) }, `${action.type} ${action.kind} ${action.name} failed`);
        results.push({ ...base, status: 'failed', error: errorText(err), durationMs: Date.now() - t0 });
      }
    }
  }
  const failed = results.filter((r) => r.status === 'failed');
  const status = failed.length > 0 && step.objectFailuresBlockDependents !== false ? 'failed' : 'succeeded';
  const error = status === 'failed' ? failed.map((r) => `${r.name}: ${r.error}`).join('; ') : undefined;
  return { kind: step.kind, status, ...(error ? { error } : {}), actions: results, durationMs: Date.now() - started };
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
      const error = new CoreflowError('COREFLOW_ERR_STEP_BLOCKED', { dependency: bad.kind }).message;
      results.set(step.kind, { kind: step.kind, status: 'blocked', error, actions: [], durationMs: 0 });
      continue;
    }
    results.set(step.kind, await runStep(step, ctx));
  }
  return [...results.values()];
}
