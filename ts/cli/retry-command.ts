import { CoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { RETRY_PATH } from '../server/retry-route.ts';
import { postToAgent } from './agent-request.ts';
import type { CliFlags } from './flags.ts';

/**
 * `coreflow retry OBJECT [--agent HOST:PORT]`: asks a running agent to retry one object now
 * (`service/web`, or just `web` for a service): a service held after an automatic rollback, or an
 * object whose retries stopped, is tried again (with the operator token, as the agent's other
 * endpoints that change things). Exit 0 when the run succeeded, 2 when it did not,
 * 1 on an error (unknown object, agent unreachable).
 */
export async function retryCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const [arg] = flags.positionals;
  if (!arg) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'retry needs an object: coreflow retry service/NAME (or NAME)' });
  const object = arg.includes('/') ? arg : `service/${arg}`;
  const body = (await postToAgent(flags, 'retry', `${RETRY_PATH}?object=${encodeURIComponent(object)}`, {}, 120_000)) as { released?: boolean; run?: { runId: string; status: string } };
  process.stdout.write(flags.json ? `${JSON.stringify(body, null, 2)}\n` : `${object}: ${body.released ? 'released' : 'nothing was held'}; run ${body.run?.runId ?? '-'} ${body.run?.status ?? ''}\n`);
  return body.run?.status === 'succeeded' ? 0 : 2;
}
