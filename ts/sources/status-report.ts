import type { ReportedStatus, StatusReport } from '../protocol/methods.ts';
import type { RunResult } from '../reconcile/types.ts';
import type { TaskCount } from '../controllers/task-health.ts';
import type { AgentStatus } from '../observe/status.ts';

const SERVICE_STEPS = new Set(['base-services', 'services']);

/**
 * The three-axis part of /v1/status that goes on the wire (controllers and state file identity
 * stay local). Typed against the wire schema so the two cannot drift apart.
 */
export function reportedStatus(s: AgentStatus): ReportedStatus {
  return { generatedAt: s.generatedAt, overall: s.overall, objects: s.objects };
}

/**
 * The reportStatus payload: the last run's outcome, one line per service (health from the
 * action's status, plus the task counts when known) and the agent's three-axis status (the same
 * as /v1/status). Built only from the result, task counts and status, which never hold secret
 * values. Pure.
 */
export function statusReport(
  reason: StatusReport['reason'],
  result: RunResult,
  status: AgentStatus,
  tasks: Record<string, TaskCount> = {},
  backups?: StatusReport['backups'],
): StatusReport {
  const services: StatusReport['services'] = [];
  for (const step of result.steps) {
    if (!SERVICE_STEPS.has(step.kind)) continue;
    for (const a of step.actions) {
      const health = a.status === 'failed' ? 'failed' : a.status === 'blocked' ? 'blocked' : 'ok';
      const t = tasks[a.name];
      services.push({ name: a.name, health, action: a.type, reason: a.reason, ...(a.error ? { error: a.error } : {}), ...(a.code ? { code: a.code } : {}), ...(t && a.type !== 'delete' ? { tasks: t } : {}) });
    }
  }
  const { runId, trigger, status: runStatus, specHash, startedAt, finishedAt, durationMs, summary } = result;
  return { reason, run: { runId, trigger, status: runStatus, specHash, startedAt, finishedAt, durationMs, summary }, services, status: reportedStatus(status), ...(backups && backups.length > 0 ? { backups } : {}) };
}
