import type { StatusReport } from '../protocol/methods.ts';
import type { RunResult } from '../reconcile/types.ts';

const SERVICE_STEPS = new Set(['base-services', 'services']);

/**
 * The reportStatus payload of a run: the run's outcome and one line per service (health from the
 * action's status). Built only from the result, which never holds secret values.
 */
export function statusReport(result: RunResult): StatusReport {
  const services: StatusReport['services'] = [];
  for (const step of result.steps) {
    if (!SERVICE_STEPS.has(step.kind)) continue;
    for (const a of step.actions) {
      const health = a.status === 'failed' ? 'failed' : a.status === 'blocked' ? 'blocked' : 'ok';
      services.push({ name: a.name, health, action: a.type, reason: a.reason, ...(a.error ? { error: a.error } : {}) });
    }
    if (step.status !== 'succeeded' && step.actions.length === 0) {
      // The step failed before planning (e.g. Docker unreachable): no per-service lines to give.
    }
  }
  const { runId, trigger, status, specHash, startedAt, finishedAt, durationMs, summary } = result;
  return { run: { runId, trigger, status, specHash, startedAt, finishedAt, durationMs, summary }, services };
}
