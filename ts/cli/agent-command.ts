import { Agent } from '../agent.ts';
import { loadConfig } from '../config/config.ts';
import type { Logger } from '../observe/logger.ts';
import type { CliFlags } from './flags.ts';

/** `coreflow agent`: runs until SIGTERM or SIGINT, then stops cleanly between actions. */
export async function agentCommand(flags: CliFlags, log: Logger): Promise<number> {
  const config = await loadConfig(flags.settings);
  const agent = new Agent(config, log);
  let stopping: Promise<void> | undefined;
  const done = new Promise<number>((resolveExit) => {
    const stop = (signal: string) => {
      if (stopping) return;
      log.info({ signal }, 'stopping');
      stopping = agent.stop().then(() => resolveExit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await agent.start();
  return done;
}
