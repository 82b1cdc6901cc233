import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { RETRY_PATH } from '../server/retry-route.ts';
import type { CliFlags } from './flags.ts';
import { DEFAULT_AGENT } from './status-command.ts';

/**
 * `coreflow retry OBJECT [--agent HOST:PORT]`: asks a running agent to retry one object now
 * (`service/web`, or just `web` for a service): a service held after an automatic rollback, or an
 * object whose retries stopped, is tried again. Exit 0 when the run succeeded, 2 when it did not,
 * 1 on an error (unknown object, agent unreachable).
 */
export async function retryCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const [arg] = flags.positionals;
  if (!arg) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'retry needs an object: coreflow retry service/NAME (or NAME)' });
  const object = arg.includes('/') ? arg : `service/${arg}`;
  const agent = typeof flags.extra.agent === 'string' ? flags.extra.agent : process.env.COREFLOW_AGENT ?? DEFAULT_AGENT;
  const base = /^https?:\/\//.test(agent) ? agent : `http://${agent}`;
  const url = new URL(RETRY_PATH, base);
  url.searchParams.set('object', object);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(120_000) });
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_AGENT_UNREACHABLE', { agent: base, details: errorText(err) });
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; code?: string; released?: boolean; run?: { runId: string; status: string } };
  if (!res.ok) {
    process.stderr.write(`coreflow retry: ${body.error ?? `HTTP ${res.status}`} [${body.code ?? 'COREFLOW_ERR_UNEXPECTED'}]\n`);
    return 1;
  }
  process.stdout.write(flags.json ? `${JSON.stringify(body, null, 2)}\n` : `${object}: ${body.released ? 'released' : 'nothing was held'}; run ${body.run?.runId ?? '-'} ${body.run?.status ?? ''}\n`);
  return body.run?.status === 'succeeded' ? 0 : 2;
}
