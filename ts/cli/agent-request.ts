import { readFile } from 'node:fs/promises';
import { CoreflowError, errorText, rebuildError, type ErrorParams } from '../errors.ts';
import type { CliFlags } from './flags.ts';
import { DEFAULT_AGENT } from './status-command.ts';

/** The agent's address (--agent, COREFLOW_AGENT, or 127.0.0.1:3000) as a base URL. */
export function agentBase(flags: CliFlags): string {
  const agent = typeof flags.extra.agent === 'string' ? flags.extra.agent : process.env.COREFLOW_AGENT ?? DEFAULT_AGENT;
  return /^https?:\/\//.test(agent) ? agent : `http://${agent}`;
}

/** The operator token: --token-file, else --api-token or COREFLOW_API_TOKEN (prefer the file or the variable: flags show in ps). */
async function apiToken(flags: CliFlags): Promise<string | undefined> {
  const file = flags.extra['token-file'];
  if (typeof file === 'string') {
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `cannot read --token-file ${file}: ${errorText(err)}` });
    }
  }
  const flag = flags.settings.apiToken;
  return (typeof flag === 'string' ? flag : process.env.COREFLOW_API_TOKEN) || undefined;
}

/**
 * POSTs `body` to an operator endpoint of a running agent, with the operator token when one is
 * given (the agent answers 401, naming COREFLOW_API_TOKEN, without it). An error answer becomes the
 * agent's own error (same code); an unreachable agent or an answer without a code is
 * COREFLOW_ERR_AGENT_REQUEST. `timeoutMs` bounds the whole request: an endpoint that runs the chain
 * answers once the run has ended.
 */
export async function postToAgent(flags: CliFlags, operation: string, path: string, body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
  const base = agentBase(flags);
  const token = await apiToken(flags);
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_AGENT_REQUEST', { operation, agent: base, details: errorText(err) });
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) return answer;
  const text = typeof answer.error === 'string' ? answer.error : `HTTP ${res.status}`;
  if (typeof answer.code === 'string' && answer.params && typeof answer.params === 'object') throw rebuildError(answer.code, answer.params as ErrorParams, text);
  throw new CoreflowError('COREFLOW_ERR_AGENT_REQUEST', { operation, agent: base, details: `the agent answered ${res.status}: ${text}${typeof answer.code === 'string' ? ` [${answer.code}]` : ''}` });
}
