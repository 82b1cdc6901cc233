import { readFile } from 'node:fs/promises';
import { CoreflowError, errorText, rebuildError, type ErrorParams } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { CliFlags } from './flags.ts';
import { DEFAULT_AGENT } from './status-command.ts';

/** The agent's address (--agent, COREFLOW_AGENT, or 127.0.0.1:3000) as a base URL. */
function agentBase(flags: CliFlags): string {
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
 * POSTs `body` to an operator endpoint of a running agent. An error answer becomes the agent's
 * own error (same code); an unreachable agent is COREFLOW_ERR_AGENT_REQUEST.
 */
async function postToAgent(flags: CliFlags, operation: string, path: string, body: Record<string, string>): Promise<Record<string, unknown>> {
  const base = agentBase(flags);
  const token = await apiToken(flags);
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      // An approval applies the plan before it answers: allow a long run.
      signal: AbortSignal.timeout(15 * 60_000),
    });
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_AGENT_REQUEST', { operation, agent: base, details: errorText(err) });
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) return answer;
  const text = typeof answer.error === 'string' ? answer.error : `HTTP ${res.status}`;
  if (typeof answer.code === 'string' && answer.params && typeof answer.params === 'object') throw rebuildError(answer.code, answer.params as ErrorParams, text);
  throw new CoreflowError('COREFLOW_ERR_AGENT_REQUEST', { operation, agent: base, details: `${text}${typeof answer.code === 'string' ? ` [${answer.code}]` : ''}` });
}

function onePositional(flags: CliFlags, what: string, command: string): string {
  const [value, ...rest] = flags.positionals;
  if (!value || rest.length > 0) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `usage: coreflow ${command} ${what} [--agent HOST:PORT] [--token-file FILE]` });
  return value;
}

function suspendCommand(suspended: boolean) {
  return async (flags: CliFlags, _log: Logger): Promise<number> => {
    const verb = suspended ? 'suspend' : 'resume';
    const service = onePositional(flags, 'SERVICE', verb);
    const answer = await postToAgent(flags, verb, suspended ? '/v1/suspend' : '/v1/resume', { service });
    if (flags.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    else process.stdout.write(`service ${service} ${suspended ? 'suspended' : 'resumed'}${answer.changed ? '' : ' (it already was)'}\n`);
    return 0;
  };
}

/** `coreflow suspend SERVICE`: the agent stops creating, changing, healing or removing it. */
export const suspendServiceCommand = suspendCommand(true);
/** `coreflow resume SERVICE`: the agent manages it again (and heals its drift). */
export const resumeServiceCommand = suspendCommand(false);

/** `coreflow approve PLAN_ID`: the agent applies that plan exactly, or refuses it as unknown or stale. */
export async function approveCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const planId = onePositional(flags, 'PLAN_ID', 'approve');
  const answer = await postToAgent(flags, 'approve', '/v1/approve', { planId });
  const run = answer.run as { runId: string; status: string; summary: Record<string, number> } | undefined;
  if (flags.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  else process.stdout.write(`plan ${planId} applied: run ${run?.runId} ${run?.status} (${JSON.stringify(run?.summary)})\n`);
  return run?.status === 'succeeded' ? 0 : 1;
}
