import { loadConfig } from '../config/config.ts';
import { ControlPlane } from '../controlplane/control-plane.ts';
import { readTokenFile } from '../controlplane/token.ts';
import { CoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { specLimits } from '../spec/limits.ts';
import { parseAddr } from './addr.ts';
import type { CliFlags } from './flags.ts';
import { runUntilSignal } from './run-until-signal.ts';

/**
 * `coreflow controlplane --spec FILE --addr HOST:PORT --token-file FILE`: runs until SIGTERM or
 * SIGINT, then writes the desired state back to the spec file.
 */
export async function controlplaneCommand(flags: CliFlags, log: Logger): Promise<number> {
  const config = await loadConfig(flags.settings);
  if (!config.spec) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'missing --spec FILE (the desired state the control plane holds)' });
  const tokenFile = flags.extra['token-file'];
  if (typeof tokenFile !== 'string') throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'missing --token-file FILE (the agents\' JUMPCODE and the HTTP API bearer token)' });
  const { host, port } = parseAddr(typeof flags.extra.addr === 'string' ? flags.extra.addr : '127.0.0.1:4400');
  const token = await readTokenFile(tokenFile);
  const cp = new ControlPlane({ specPath: config.spec, host, port, token, log, pingIntervalMs: config.pingIntervalMs, specLimits: specLimits(config) });
  return runUntilSignal(cp, log, { stopTimeoutMs: config.stopTimeoutMs });
}
