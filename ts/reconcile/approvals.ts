import { randomUUID } from 'node:crypto';
import { actionKey } from './controls.ts';
import type { ActionResult, ActionType, RunResult } from './types.ts';

/** `auto`: a run applies what it plans; `approve`: a run that would write stops at its plan. */
export type ApplyMode = 'auto' | 'approve';

/** One change of a plan waiting for approval: what a person reads, never a payload. */
export interface PlannedChange {
  kind: string;
  name: string;
  type: ActionType;
  reason: string;
  diff?: string[];
  /** Set on a deletion held by the mass-deletion guard: approving the plan confirms it. */
  guarded?: boolean;
}

/** A plan waiting for approval (`coreflow approve ID`, or the control plane's approvePlan). */
export interface PendingPlan {
  id: string;
  /** The run that made it. */
  runId: string;
  createdAt: string;
  /** The desired state it was planned from. */
  specHash: string;
  /** `approve-mode`: COREFLOW_APPLY_MODE=approve; `mass-deletion`: deletions held by the guard. */
  why: 'approve-mode' | 'mass-deletion';
  changes: PlannedChange[];
}

function isGuarded(a: ActionResult): boolean {
  return a.status === 'blocked' && a.code === 'COREFLOW_ERR_MASS_DELETION';
}

/**
 * Pure. The changes of a run's result that wait for an operator: in approve mode every change a
 * dry run planned (and guarded deletions); in auto mode only the deletions the mass-deletion
 * guard held back. Empty: nothing to approve.
 */
export function changesToApprove(result: Pick<RunResult, 'steps'>, mode: ApplyMode): PlannedChange[] {
  const out: PlannedChange[] = [];
  for (const step of result.steps) {
    for (const a of step.actions) {
      if (a.type === 'skip') continue;
      const guarded = isGuarded(a);
      if (!guarded && !(mode === 'approve' && a.status === 'planned')) continue;
      out.push({ kind: a.kind, name: a.name, type: a.type, reason: a.reason, ...(a.diff ? { diff: a.diff } : {}), ...(guarded ? { guarded: true } : {}) });
    }
  }
  return out;
}

/** The identity of a set of changes on one desired state: equal fingerprints, same plan. */
export function planFingerprint(specHash: string, changes: readonly PlannedChange[]): string {
  return [specHash, ...changes.map(actionKey).sort()].join('\n');
}

/**
 * Pure. The plan waiting after a run: undefined when nothing waits; the `previous` plan itself
 * (same id) when the run planned exactly the same changes on the same desired state, so that a
 * resync or a drift wake-up does not turn an approval in flight stale; else a new plan.
 */
export function nextPlan(
  previous: PendingPlan | undefined,
  run: Pick<RunResult, 'runId' | 'specHash' | 'steps'>,
  mode: ApplyMode,
  now = new Date(),
): PendingPlan | undefined {
  const changes = changesToApprove(run, mode);
  if (changes.length === 0) return undefined;
  if (previous && planFingerprint(previous.specHash, previous.changes) === planFingerprint(run.specHash, changes)) return previous;
  return {
    id: `plan-${randomUUID().slice(0, 8)}`,
    runId: run.runId,
    createdAt: now.toISOString(),
    specHash: run.specHash,
    why: mode === 'approve' && changes.some((c) => !c.guarded) ? 'approve-mode' : 'mass-deletion',
    changes,
  };
}

/** What /v1/status shows of a waiting plan. */
export function planSummary(p: PendingPlan): { id: string; createdAt: string; why: string; changes: number } {
  return { id: p.id, createdAt: p.createdAt, why: p.why, changes: p.changes.length };
}
