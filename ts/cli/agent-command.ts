import { Agent } from '../agent.ts';
import { loadConfig } from '../config/config.ts';
import type { Logger } from '../observe/logger.ts';
import type { CliFlags } from './flags.ts';
import { runUntilSignal } from './run-until-signal.ts';

/** `coreflow agent`: runs until SIGTERM or SIGINT, then stops cleanly between actions. */
export async function agentCommand(flags: CliFlags, log: Logger): Promise<number> {
  const config = await loadConfig(flags.settings);
  const agent = new Agent(config, log);
  return runUntilSignal(agent, log, { stopTimeoutMs: config.stopTimeoutMs });
}
