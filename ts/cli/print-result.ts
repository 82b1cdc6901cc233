import type { ActionResult, RunResult } from '../reconcile/types.ts';

const SYMBOL: Record<ActionResult['type'], string> = { create: '+', update: '~', delete: '-', skip: '=' };

function line(a: ActionResult): string {
  const diff = a.diff && a.diff.length > 0 ? `: ${a.diff.join(', ')}` : '';
  const status = a.status === 'failed' || a.status === 'blocked' ? `  [${a.status}: ${a.error}]` : '';
  const warning = a.warning ? `  [warning: ${a.warning}]` : '';
  return `  ${SYMBOL[a.type]} ${a.name.padEnd(28)} ${a.reason}${diff}${status}${warning}`;
}

/**
 * A run or plan for a person: one block per step, one line per object. Unchanged objects are
 * listed only with `verbose`. Contains no secret values: results never carry any.
 */
export function formatResult(result: RunResult, opts: { verbose?: boolean } = {}): string {
  const out: string[] = [];
  for (const step of result.steps) {
    // Objects outside --target are listed once, below.
    const shown = step.actions.filter((a) => a.held?.by !== 'target').filter((a) => opts.verbose || a.type !== 'skip' || a.status === 'failed' || a.status === 'blocked' || a.warning || (a.held?.by === 'suspended' && a.held.type !== 'skip'));
    if (shown.length === 0 && step.status === 'succeeded') continue;
    out.push(`${step.kind}${step.status === 'succeeded' ? '' : `  [${step.status}: ${step.error}]`}`);
    for (const a of shown) out.push(line(a));
  }
  const leftOut = result.steps.flatMap((st) => st.actions.filter((a) => a.held?.by === 'target' && a.held.type !== 'skip'));
  if (leftOut.length > 0) {
    out.push('');
    out.push(`Left out (not targeted): ${leftOut.length} object(s) with changes, not ${result.dryRun ? 'planned' : 'applied'}:`);
    for (const a of leftOut) out.push(`  ${SYMBOL[a.held!.type]} ${a.kind}/${a.name}  ${a.held!.reason}`);
  }
  if (result.plan) out.push('', `Plan ${result.plan.id} waits for approval: coreflow approve ${result.plan.id}`);
  const s = result.summary;
  const [verb, created, updated, deleted] = result.dryRun
    ? ['Plan', 'to create', 'to update', 'to delete']
    : ['Applied', 'created', 'updated', 'deleted'];
  out.push('');
  out.push(
    `${verb}: ${s.creates} ${created}, ${s.updates} ${updated}, ${s.deletes} ${deleted}, ${s.unchanged} unchanged` +
      (s.failed ? `, ${s.failed} failed` : '') +
      (s.blocked ? `, ${s.blocked} blocked` : '') +
      ` (run ${result.runId}, ${result.durationMs} ms).`,
  );
  return out.join('\n');
}
