import type { ActionResult, RunObserver } from './types.ts';
import type { EventBus } from '../observe/events.ts';

function counts(actions: readonly Pick<ActionResult, 'type'>[]): { creates: number; updates: number; deletes: number; skipped: number } {
  const c = { creates: 0, updates: 0, deletes: 0, skipped: 0 };
  for (const a of actions) {
    if (a.type === 'create') c.creates++;
    else if (a.type === 'update') c.updates++;
    else if (a.type === 'delete') c.deletes++;
    else c.skipped++;
  }
  return c;
}

/**
 * Drift is an update the planner made because a live field differs from what coreflow set; on a
 * suspended object it is held, not applied, and still reported.
 */
export function isDrift(a: Pick<ActionResult, 'reason' | 'held'>): boolean {
  return a.reason.startsWith('drifted') || (a.held?.reason.startsWith('drifted') ?? false);
}

/**
 * Turns a run's lifecycle into bus events: per step plan.start, plan.complete
 * (counts), drift.detected (one per drifted object), warning (one per object the run could not
 * fully handle without failing it, e.g. a registry that did not answer), and unless it is a dry run apply.start,
 * apply.action (one per applied or failed action), apply.complete; error for failed steps and
 * objects. Only kinds, names, reasons and statuses go in: never payloads.
 */
export function runEventsObserver(bus: EventBus): RunObserver {
  return {
    stepStarted(runId, step) {
      bus.emit({ type: 'plan.start', resourceType: step, runId, summary: `planning ${step}` });
    },
    stepPlanned(runId, step, actions, durationMs, dryRun) {
      const c = counts(actions);
      bus.emit({
        type: 'plan.complete',
        resourceType: step,
        runId,
        summary: `${c.creates} to create, ${c.updates} to update, ${c.deletes} to delete, ${c.skipped} unchanged`,
        details: { ...c, durationMs, dryRun },
      });
      for (const a of actions.filter(isDrift)) {
        bus.emit({ type: 'drift.detected', resourceType: step, kind: a.kind, name: a.name, runId, summary: `${a.kind} ${a.name} ${a.reason}${a.diff ? `: ${a.diff.join(', ')}` : ''}` });
      }
      for (const a of actions.filter((x) => x.warning)) {
        bus.emit({ type: 'warning', resourceType: step, kind: a.kind, name: a.name, runId, summary: `${a.kind} ${a.name}: ${a.warning}`, ...(a.warningCode ? { code: a.warningCode } : {}) });
      }
      const toApply = actions.filter((a) => a.type !== 'skip').length;
      if (!dryRun && toApply > 0) bus.emit({ type: 'apply.start', resourceType: step, runId, summary: `applying ${toApply} action(s)`, details: { actions: toApply } });
    },
    actionApplied(runId, step, r) {
      bus.emit({
        type: 'apply.action',
        resourceType: step,
        kind: r.kind,
        name: r.name,
        runId,
        summary: `${r.type} ${r.kind} ${r.name}: ${r.status}`,
        details: { action: r.type, status: r.status, durationMs: r.durationMs },
      });
    },
    stepFinished(runId, result, dryRun) {
      // Object failures are reported by ErrorReporter (once per change); here only whole-step ones.
      if (result.error && !result.actions.some((a) => a.status === 'failed')) {
        bus.emit({ type: 'error', resourceType: result.kind, runId, summary: `${result.kind} ${result.status}: ${result.error}`, ...(result.code ? { code: result.code } : {}) });
      }
      const applied = result.actions.filter((a) => a.status === 'succeeded' || a.status === 'failed');
      if (!dryRun && applied.length > 0) {
        const ok = applied.filter((a) => a.status === 'succeeded').length;
        bus.emit({
          type: 'apply.complete',
          resourceType: result.kind,
          runId,
          summary: `${ok} succeeded, ${applied.length - ok} failed`,
          details: { succeeded: ok, failed: applied.length - ok, durationMs: result.durationMs },
        });
      }
    },
  };
}
