import type { ActionResult, RunResult } from '../reconcile/types.ts';

const SYMBOL: Record<ActionResult['type'], string> = { create: '+', update: '~', delete: '-', skip: '=' };

function line(a: ActionResult): string {
  const diff = a.diff && a.diff.length > 0 ? `: ${a.diff.join(', ')}` : '';
  const status = a.status === 'failed' || a.status === 'blocked' ? `  [${a.status}: ${a.error}]` : a.status === 'succeeded' || a.status === 'planned' ? '' : '';
  return `  ${SYMBOL[a.type]} ${a.name.padEnd(28)} ${a.reason}${diff}${status}`;
}

/**
 * A run or plan for a person: one block per step, one line per object. Unchanged objects are
 * listed only with `verbose`. Contains no secret values: results never carry any.
 */
export function formatResult(result: RunResult, opts: { verbose?: boolean } = {}): string {
  const out: string[] = [];
  for (const step of result.steps) {
    const shown = step.actions.filter((a) => opts.verbose || a.type !== 'skip' || a.status === 'failed' || a.status === 'blocked');
    if (shown.length === 0 && step.status === 'succeeded') continue;
    out.push(`${step.kind}${step.status === 'succeeded' ? '' : `  [${step.status}: ${step.error}]`}`);
    for (const a of shown) out.push(line(a));
  }
  const s = result.summary;
  const verb = result.dryRun ? 'Plan' : 'Applied';
  out.push('');
  out.push(
    `${verb}: ${s.creates} to create, ${s.updates} to update, ${s.deletes} to delete, ${s.unchanged} unchanged` +
      (s.failed ? `, ${s.failed} failed` : '') +
      (s.blocked ? `, ${s.blocked} blocked` : '') +
      ` (run ${result.runId}, ${result.durationMs} ms).`,
  );
  if (!result.dryRun) out[out.length - 1] = out[out.length - 1]!.replace(/ to (create|update|delete)/g, (_m, w: string) => ` ${w === 'create' ? 'created' : w === 'update' ? 'updated' : 'deleted'}`);
  return out.join('\n');
}
