import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { AgentStatus } from '../observe/status.ts';
import type { CliFlags } from './flags.ts';

/** Where `coreflow status` looks for a running agent unless --agent says otherwise. */
export const DEFAULT_AGENT = '127.0.0.1:3000';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** The status table for a person. Contains no secret values: the status never carries any. */
export function formatStatus(s: AgentStatus): string {
  const rows = [['OBJECT', 'SYNC', 'HEALTH', 'OPERATION', 'MESSAGE']];
  for (const o of s.objects) rows.push([`${o.kind}/${o.name}`, o.sync, o.health, o.operation, o.message ?? '']);
  const out = [table(rows), ''];
  out.push(`Overall: ${s.overall.sync}, ${s.overall.health}, ${s.overall.operation} - ${s.overall.message ?? ''}`);
  if (s.lastRun) out.push(`Last run: ${s.lastRun.runId} ${s.lastRun.status} at ${s.lastRun.finishedAt} (${s.lastRun.durationMs} ms, trigger: ${s.lastRun.trigger})`);
  const badControllers = s.controllers.filter((c) => c.lastError || !c.running);
  for (const c of badControllers) out.push(`Controller ${c.name}: ${c.running ? 'running' : 'stopped'}${c.lastError ? `, last error: ${c.lastError}` : ''}`);
  return out.join('\n');
}

/**
 * `coreflow status [--agent HOST:PORT] [--json]`: reads /v1/status of a running agent and prints
 * it. Exit 0 when everything is Synced and Healthy, 2 when something is not, 1 when the agent
 * cannot be reached.
 */
export async function statusCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const agent = typeof flags.extra.agent === 'string' ? flags.extra.agent : process.env.COREFLOW_AGENT ?? DEFAULT_AGENT;
  const base = /^https?:\/\//.test(agent) ? agent : `http://${agent}`;
  let status: AgentStatus;
  try {
    const res = await fetch(new URL('/v1/status', base), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    status = (await res.json()) as AgentStatus;
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_AGENT_UNREACHABLE', { agent: base, details: errorText(err) });
  }
  process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
  return status.overall.sync === 'Synced' && status.overall.health === 'Healthy' ? 0 : 2;
}
