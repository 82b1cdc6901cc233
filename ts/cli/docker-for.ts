import { loadConfig } from '../config/config.ts';
import { connectDocker } from '../docker/client.ts';
import type { CliFlags } from './flags.ts';

/** Docker calls of one-shot commands (export, adopt): each must answer within this time. */
export const CALL_TIMEOUT_MS = 30_000;

/** The settings and the Docker connection of a one-shot command. */
export async function dockerFor(flags: CliFlags) {
  const config = await loadConfig(flags.settings);
  const { docker } = await connectDocker(config.dockerHost ? { host: config.dockerHost } : {});
  return { config, docker };
}
