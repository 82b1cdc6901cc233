import type { RunResult, RunStatus, StepResult } from './types.ts';

export function summarize(steps: readonly StepResult[]): { status: RunStatus; summary: RunResult['summary'] } {
  const summary = { creates: 0, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 };
  for (const step of steps) {
    for (const a of step.actions) {
      if (a.status === 'failed') summary.failed++;
      else if (a.status === 'blocked') summary.blocked++;
      else if (a.type === 'skip') summary.unchanged++;
      else if (a.status === 'succeeded' || a.status === 'planned') {
        if (a.type === 'create') summary.creates++;
        else if (a.type === 'update') summary.updates++;
        else if (a.type === 'delete') summary.deletes++;
      }
    }
  }
  const stepsBad = steps.filter((s) => s.status !== 'succeeded').length;
  // Failed: some step failed and none did anything (a step that succeeded with no objects, such as
  // bindings in a document without any, says nothing about this run).
  const nothingDone = steps.every((s) => s.status !== 'succeeded' || s.actions.length === 0);
  const status: RunStatus = stepsBad > 0 && nothingDone ? 'failed' : stepsBad > 0 || summary.failed > 0 || summary.blocked > 0 ? 'partial' : 'succeeded';
  return { status, summary };
}

/** True when the plan/run changes something (creates, updates or deletes that are not blocked). */
export function hasChanges(result: Pick<RunResult, 'summary'>): boolean {
  const s = result.summary;
  return s.creates + s.updates + s.deletes > 0;
}
