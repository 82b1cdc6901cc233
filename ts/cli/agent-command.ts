import { Agent } from '../agent.ts';
import { loadConfig } from '../config/config.ts';
import { errorLogFields } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { CliFlags } from './flags.ts';
import { runUntilSignal } from './run-until-signal.ts';

/**
 * `coreflow agent`: runs until SIGTERM or SIGINT, then stops cleanly between actions. An error
 * after which the agent must not go on (its lease lost) stops it the same way and exits with 1,
 * so Swarm starts it again as a standby.
 */
export async function agentCommand(flags: CliFlags, log: Logger): Promise<number> {
  const config = await loadConfig(flags.settings);
  const agent = new Agent(config, log);
  let fatal = false;
  agent.onFatal = (err) => {
    if (fatal) return;
    fatal = true;
    log.error(errorLogFields(err), 'stopping the agent');
    process.kill(process.pid, 'SIGTERM');
  };
  const code = await runUntilSignal(agent, log, { stopTimeoutMs: config.stopTimeoutMs });
  return fatal ? 1 : code;
}
