import { CoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { RedeployAnswer } from '../protocol/methods.ts';
import { REDEPLOY_PATH } from '../server/operator-routes.ts';
import { postToAgent } from './agent-request.ts';
import type { CliFlags } from './flags.ts';

/** A redeploy answer for a person: `~ web  spec changed: image: app:1@sha256:aaa -> @sha256:bbb  [succeeded]`. */
export function formatRedeploy(a: RedeployAnswer): string {
  const symbol = { create: '+', update: '~', delete: '-', skip: '=' }[a.action ?? 'skip'];
  const diff = a.diff && a.diff.length > 0 ? `: ${a.diff.join(', ')}` : '';
  const lines = [`${symbol} ${a.service}  ${a.reason ?? ''}${diff}  [${a.status}] (run ${a.runId})`];
  if (a.error) lines.push(`  error: ${a.error}`);
  if (a.warning) lines.push(`  warning: ${a.warning}`);
  return lines.join('\n');
}

/**
 * `coreflow redeploy SERVICE [--agent HOST:PORT] [--token-file FILE]`: asks a running agent to
 * check the service's image tag on its registry now and roll out what changed (POST /v1/redeploy,
 * `Authorization: Bearer` with the agent's COREFLOW_API_TOKEN, from --token-file or that variable).
 * Exit 0 when the service is as desired, 1 when it failed or the agent refused or cannot be reached.
 * Without a token the agent refuses (401, naming COREFLOW_API_TOKEN).
 */
export async function redeployCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const service = flags.positionals[0];
  if (!service || flags.positionals.length > 1) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'usage: coreflow redeploy SERVICE [--agent HOST:PORT] [--token-file FILE]' });
  // A run with a rolling update to start can take a while; the agent's run timeout bounds it.
  const answer = (await postToAgent(flags, 'redeploy', REDEPLOY_PATH, { service }, 300_000)) as unknown as RedeployAnswer;
  process.stdout.write(flags.json ? `${JSON.stringify(answer, null, 2)}\n` : `${formatRedeploy(answer)}\n`);
  return answer.status === 'succeeded' || answer.status === 'skipped' ? 0 : 1;
}
