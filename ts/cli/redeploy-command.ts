import { readEnv } from '../config/config.ts';
import { readTokenFile } from '../controlplane/token.ts';
import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { RedeployAnswer } from '../protocol/methods.ts';
import { REDEPLOY_PATH } from '../server/operator-routes.ts';
import type { CliFlags } from './flags.ts';
import { DEFAULT_AGENT } from './status-command.ts';

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
 */
export async function redeployCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const service = flags.positionals[0];
  if (!service || flags.positionals.length > 1) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'usage: coreflow redeploy SERVICE [--agent HOST:PORT] [--token-file FILE]' });
  const tokenFile = flags.extra['token-file'];
  const fromFlag = typeof flags.settings.apiToken === 'string' ? flags.settings.apiToken : undefined;
  const token = typeof tokenFile === 'string' ? await readTokenFile(tokenFile) : fromFlag ?? (await readEnv(['COREFLOW_API_TOKEN'])).COREFLOW_API_TOKEN;
  if (!token) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: "the agent's operator endpoints need its token: --token-file FILE or COREFLOW_API_TOKEN" });
  const agent = typeof flags.extra.agent === 'string' ? flags.extra.agent : process.env.COREFLOW_AGENT ?? DEFAULT_AGENT;
  const base = /^https?:\/\//.test(agent) ? agent : `http://${agent}`;
  let res: Response;
  try {
    res = await fetch(new URL(REDEPLOY_PATH, base), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
      // A run with a rolling update to start can take a while; the agent's run timeout bounds it.
      signal: AbortSignal.timeout(300_000),
    });
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_AGENT_UNREACHABLE', { agent: base, details: errorText(err) });
  }
  const body = (await res.json().catch(() => ({}))) as RedeployAnswer & { error?: string };
  if (!res.ok) {
    process.stderr.write(`coreflow redeploy: the agent answered ${res.status}: ${body.error ?? res.statusText}\n`);
    return 1;
  }
  process.stdout.write(flags.json ? `${JSON.stringify(body, null, 2)}\n` : `${formatRedeploy(body)}\n`);
  return body.status === 'succeeded' || body.status === 'skipped' ? 0 : 1;
}
