import type { ReportedStatus } from '../protocol/methods.ts';

/** The overall status, then every object that is not Synced and Healthy (Suspended is by choice). */
function statusLines(status: ReportedStatus): string[] {
  const o = status.overall;
  const lines = [`    status ${o.sync}, ${o.health}, ${o.operation}${o.message ? ` - ${o.message}` : ''}`];
  for (const x of status.objects) {
    if (x.sync === 'Synced' && (x.health === 'Healthy' || x.health === 'Suspended')) continue;
    lines.push(`    ! ${`${x.kind}/${x.name}`.padEnd(28)} ${x.sync}, ${x.health}${x.message ? `: ${x.message}` : ''}`);
  }
  return lines;
}

/** One control-plane event (from /v1/events) as lines for a person. Pure. */
export function formatEvent(type: string, data: Record<string, unknown>): string {
  const time = typeof data.time === 'string' ? data.time.replace(/\.\d+Z$/, 'Z') : '';
  const head = `${time}  ${type.padEnd(6)} ${String(data.reason ?? '')}`;
  const lines = [head];
  if (type === 'state') {
    const desired = (data.desired ?? {}) as { cluster?: { name?: string }; services?: { name?: string; image?: string; scaleFactor?: number }[] };
    const services = desired.services ?? [];
    lines[0] += `  (cluster ${desired.cluster?.name ?? '?'}, spec ${String(data.specHash ?? '?')}, ${services.length} services)`;
    for (const s of services) lines.push(`    ${String(s.name).padEnd(28)} ${s.image ?? '(no image)'}${s.scaleFactor !== undefined ? ` x${s.scaleFactor}` : ''}`);
  } else if (type === 'report') {
    const run = (data.run ?? {}) as { runId?: string; specHash?: string; durationMs?: number; summary?: Record<string, number> };
    const s = run.summary ?? {};
    const status = data.status as ReportedStatus | undefined;
    if (data.cause === 'health') {
      // Between runs: only the status changed; the run lines would repeat the last report.
      lines[0] += `  (cluster ${String(data.clusterName ?? '?')}, spec ${run.specHash ?? '?'})`;
      if (status) lines.push(...statusLines(status));
      return lines.join('\n');
    }
    lines[0] += `  (cluster ${String(data.clusterName ?? '?')}, run ${run.runId ?? '?'}, spec ${run.specHash ?? '?'}, ${run.durationMs ?? '?'} ms)`;
    if (status) lines.push(...statusLines(status).slice(0, 1));
    lines.push(`    ${s.creates ?? 0} created, ${s.updates ?? 0} updated, ${s.deletes ?? 0} deleted, ${s.unchanged ?? 0} unchanged, ${s.failed ?? 0} failed, ${s.blocked ?? 0} blocked`);
    const services = (data.services ?? []) as { name: string; health: string; action: string; reason: string; error?: string; tasks?: { running: number; desired: number | null } }[];
    for (const svc of services) {
      const t = svc.tasks;
      const tasks = t ? ` (${t.running}${t.desired === null ? '' : `/${t.desired}`} running)` : '';
      if (svc.action === 'skip' && svc.health === 'ok' && (!t || t.desired === null || t.running >= t.desired)) continue;
      lines.push(`    ${svc.health === 'ok' ? ' ' : '!'} ${svc.name.padEnd(28)} ${svc.action}: ${svc.reason}${svc.error ? ` [${svc.error}]` : ''}${tasks}`);
    }
  } else if (type === 'push') {
    lines[0] += `  (agent ${String(data.agentId ?? '?')}${data.specHash ? `, spec ${String(data.specHash)}` : ''})`;
    for (const e of (data.errors ?? []) as string[]) lines.push(`    ! ${e}`);
  } else if (type === 'plan') {
    lines[0] += `  (agent ${String(data.agentId ?? '?')}${data.clusterName ? `, cluster ${String(data.clusterName)}` : ''})`;
    const plan = data.plan as { id: string; changes: { kind: string; name: string; type: string; reason: string; guarded?: boolean }[] } | undefined;
    const symbol: Record<string, string> = { create: '+', update: '~', delete: '-', skip: '=' };
    for (const c of plan?.changes ?? []) lines.push(`    ${symbol[c.type] ?? '?'} ${`${c.kind}/${c.name}`.padEnd(28)} ${c.reason}${c.guarded ? ' (mass deletion: approving confirms it)' : ''}`);
    if (plan) lines.push(`    approve: POST /v1/plans/${plan.id}/approve`);
  } else if (type === 'agent') {
    lines[0] += `  (agent ${String(data.agentId ?? '?')}${data.clusterName ? `, cluster ${String(data.clusterName)}` : ''})`;
  }
  return lines.join('\n');
}
