import { CoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { postToAgent } from './agent-request.ts';
import type { CliFlags } from './flags.ts';

/** An approval applies the plan before the agent answers: a long run is allowed. */
const APPROVE_TIMEOUT_MS = 15 * 60_000;
const SUSPEND_TIMEOUT_MS = 30_000;

function onePositional(flags: CliFlags, what: string, command: string): string {
  const [value, ...rest] = flags.positionals;
  if (!value || rest.length > 0) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `usage: coreflow ${command} ${what} [--agent HOST:PORT] [--token-file FILE]` });
  return value;
}

function suspendCommand(suspended: boolean) {
  return async (flags: CliFlags, _log: Logger): Promise<number> => {
    const verb = suspended ? 'suspend' : 'resume';
    const service = onePositional(flags, 'SERVICE', verb);
    const answer = await postToAgent(flags, verb, suspended ? '/v1/suspend' : '/v1/resume', { service }, SUSPEND_TIMEOUT_MS);
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
  const answer = await postToAgent(flags, 'approve', '/v1/approve', { planId }, APPROVE_TIMEOUT_MS);
  const run = answer.run as { runId: string; status: string; summary: Record<string, number> } | undefined;
  if (flags.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  else process.stdout.write(`plan ${planId} applied: run ${run?.runId} ${run?.status} (${JSON.stringify(run?.summary)})\n`);
  return run?.status === 'succeeded' ? 0 : 1;
}
