import type { AgentMetrics } from '../observe/metrics.ts';
import { isDrift } from './run-events.ts';
import type { RunResult } from './types.ts';

/**
 * Records a run of the chain in the metrics: the reconcile counters (controller "chain") and,
 * unless it was a dry run, the owned objects by kind and the drifted objects it found.
 */
export function recordRunMetrics(m: AgentMetrics, result: RunResult): void {
  const outcome = result.status === 'succeeded' ? 'success' : result.status === 'failed' ? 'error' : 'partial';
  m.recordReconcile('chain', result.durationMs / 1000, outcome, result.steps.reduce((n, s) => n + s.actions.length, 0));
  if (result.dryRun) return;
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
  m.bindings.reset();
  for (const [key, n] of bindingCounts(result)) {
    const [type, state] = key.split('/') as [string, string];
    m.bindings.set({ type, state }, n);
  }
}

/** Pure. Bindings by `type/state` from the run's `binding` actions (named `service/type/name`). */
export function bindingCounts(result: Pick<RunResult, 'steps'>): Map<string, number> {
  const out = new Map<string, number>();
  for (const step of result.steps) {
    for (const a of step.actions) {
      if (a.kind !== 'binding' || (a.type === 'delete' && a.status === 'succeeded')) continue;
      const type = a.name.split('/')[1] ?? 'unknown';
      const state =
        a.type === 'delete' || a.reason.startsWith('kept:')
          ? 'orphaned'
          : a.status === 'skipped' || a.status === 'succeeded'
            ? 'ready'
            : a.status === 'planned' || a.code === 'COREFLOW_ERR_BINDING_NOT_READY'
              ? 'progressing'
              : 'failed';
      out.set(`${type}/${state}`, (out.get(`${type}/${state}`) ?? 0) + 1);
    }
  }
  return out;
}
