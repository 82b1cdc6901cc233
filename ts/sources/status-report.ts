import type { StatusReport } from '../protocol/methods.ts';
import type { RunResult } from '../reconcile/types.ts';
import type { TaskCount } from '../docker/task-counts.ts';

const SERVICE_STEPS = new Set(['base-services', 'services']);

/**
 * The reportStatus payload of a run: the run's outcome and one line per service (health from the
 * action's status, plus the task counts when known). Built only from the result and task counts,
 * which never hold secret values. Pure.
 */
export function statusReport(result: RunResult, tasks: Record<string, TaskCount> = {}): StatusReport {
  const services: StatusReport['services'] = [];
  for (const step of result.steps) {
    if (!SERVICE_STEPS.has(step.kind)) continue;
    for (const a of step.actions) {
      const health = a.status === 'failed' ? 'failed' : a.status === 'blocked' ? 'blocked' : 'ok';
      const t = tasks[a.name];
      services.push({ name: a.name, health, action: a.type, reason: a.reason, ...(a.error ? { error: a.error } : {}), ...(t && a.type !== 'delete' ? { tasks: t } : {}) });
    }
  }
  const { runId, trigger, status, specHash, startedAt, finishedAt, durationMs, summary } = result;
  return { run: { runId, trigger, status, specHash, startedAt, finishedAt, durationMs, summary }, services };
}
