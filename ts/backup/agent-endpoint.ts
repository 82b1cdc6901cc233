import type Docker from 'dockerode';
import { swarmInfo } from './swarm-ops.ts';
import type { AgentEndpoint } from './volume-job.ts';

/**
 * Where job tasks reach the agent: COREFLOW_BACKUP_AGENT_ADDR when set, else the manager's
 * swarm address (reachable from every node) and the internal server's port, over `network`.
 */
export async function agentEndpoint(opts: { addr: string | undefined; network: string; port: number; docker: Docker; signal?: AbortSignal }): Promise<AgentEndpoint> {
  if (opts.addr) {
    const i = opts.addr.lastIndexOf(':');
    return { host: opts.addr.slice(0, i), port: Number(opts.addr.slice(i + 1)), network: opts.network };
  }
  const { nodeAddr } = await swarmInfo(opts.docker, opts.signal);
  return { host: nodeAddr, port: opts.port, network: opts.network };
}
