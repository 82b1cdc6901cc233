import { CoreflowError } from '../errors.ts';
import type { Action, ActionType, HeldBy } from './types.ts';

/** `kind/name`: how controls name one object of a plan. */
export function objectKey(a: Pick<Action, 'kind' | 'name'>): string {
  return `${a.kind}/${a.name}`;
}

/**
 * What an operator holds back or lets through in one run, applied to every step's plan before
 * anything is written. The engine knows no kinds: the wiring decides which objects these name.
 */
export interface RunControls {
  /** Why this object is suspended (not created, changed, healed or pruned), or undefined. */
  suspended?: (a: Pick<Action, 'kind' | 'name'>) => string | undefined;
  /** Only objects for which this is true are applied (`--target`); the others are left out. */
  inScope?: (a: Pick<Action, 'kind' | 'name'>) => boolean;
  /**
   * An approved plan being applied: only its actions (by actionKey) are written when `only` is
   * set (approve mode), and the mass-deletion guard is lifted for the deletions it holds (the
   * approval is the operator's confirmation).
   */
  approved?: { planId: string; keys: ReadonlySet<string>; only: boolean };
}

/** Identifies one planned change: the object, the change, why and which fields. */
export function actionKey(a: Pick<Action, 'kind' | 'name' | 'type' | 'reason' | 'diff'>): string {
  return `${a.kind}/${a.name} ${a.type} ${a.reason}${a.diff ? ` [${a.diff.join(',')}]` : ''}`;
}

function held(a: Action, by: HeldBy['by'], reason: string): Action {
  const was: ActionType = a.type;
  return {
    kind: a.kind,
    name: a.name,
    type: 'skip',
    reason,
    ...(a.diff ? { diff: a.diff } : {}),
    held: { by, type: was, reason: a.reason },
    ...(a.payload !== undefined ? { payload: a.payload } : {}),
  };
}

/**
 * Pure. One planned action after the run's controls: a suspended object's change becomes a skip
 * that still says what it would have done (drift on it is reported, not healed); an object
 * outside the targets is left out the same way; in an approved run, a change that was not
 * approved is held back and a mass-deletion guard on an approved deletion is lifted.
 */
export function controlAction(a: Action, controls: RunControls | undefined): Action {
  if (!controls) return a;
  const why = controls.suspended?.(a);
  if (why !== undefined) {
    const would = a.type === 'skip' ? '' : `; would ${a.type}: ${a.reason}`;
    return held(a, 'suspended', `suspended (${why})${would}`);
  }
  if (controls.inScope && !controls.inScope(a)) {
    if (a.type === 'skip' && !a.blocked) return a;
    return held(a, 'target', `left out: not targeted${a.type === 'skip' ? '' : `; would ${a.type}: ${a.reason}`}`);
  }
  const approved = controls.approved;
  if (approved && a.type !== 'skip') {
    const ok = approved.keys.has(actionKey(a));
    if (ok && a.blocked?.code === 'COREFLOW_ERR_MASS_DELETION') {
      const { blocked: _b, ...rest } = a;
      return rest;
    }
    if (!ok && approved.only && !a.blocked) {
      const reason = new CoreflowError('COREFLOW_ERR_PLAN_STALE', { id: approved.planId, details: `${a.type} ${a.kind} ${a.name} (${a.reason}) was not in it` }).message;
      return { ...a, blocked: { status: 'blocked', reason, code: 'COREFLOW_ERR_PLAN_STALE' } };
    }
  }
  return a;
}
