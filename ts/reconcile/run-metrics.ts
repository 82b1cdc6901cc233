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
}
