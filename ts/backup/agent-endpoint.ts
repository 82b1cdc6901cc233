import { networkInterfaces } from 'node:os';
import type Docker from 'dockerode';
import { swarmInfo } from './swarm-ops.ts';
import type { AgentEndpoint } from './volume-job.ts';

export interface LocalAddress {
  address: string;
  /** CIDR form, e.g. 10.213.0.1/24. */
  cidr: string | null;
  family: string;
}

function ipv4(address: string): number | undefined {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/**
 * Pure. The address of this host at which `nodeAddr` (the manager's swarm address) can reach it:
 * `nodeAddr` itself when it is one of this host's addresses (the agent shares the manager's
 * network), else this host's IPv4 address in the same subnet (the agent runs beside the engine,
 * e.g. on the bridge of a test swarm whose nodes are network namespaces), else `nodeAddr`.
 */
export function reachableAddress(nodeAddr: string, local: readonly LocalAddress[]): string {
  if (local.some((l) => l.address === nodeAddr)) return nodeAddr;
  const node = ipv4(nodeAddr);
  if (node === undefined) return nodeAddr;
  for (const l of local) {
    const ip = ipv4(l.address);
    const bits = Number(l.cidr?.split('/')[1]);
    if (l.family !== 'IPv4' || ip === undefined || !Number.isInteger(bits) || bits <= 0 || bits > 32) continue;
    const mask = bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
    if ((ip & mask) === (node & mask)) return l.address;
  }
  return nodeAddr;
}

/**
 * Where job tasks reach the agent: COREFLOW_BACKUP_AGENT_ADDR when set, else this host's address
 * as seen from the manager's swarm address (reachableAddress) and the internal server's port, over
 * `network`.
 */
export async function agentEndpoint(opts: { addr: string | undefined; network: string; port: number; docker: Docker; signal?: AbortSignal }): Promise<AgentEndpoint> {
  if (opts.addr) {
    const i = opts.addr.lastIndexOf(':');
    return { host: opts.addr.slice(0, i), port: Number(opts.addr.slice(i + 1)), network: opts.network };
  }
  const { nodeAddr } = await swarmInfo(opts.docker, opts.signal);
  const local = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  return { host: reachableAddress(nodeAddr, local), port: opts.port, network: opts.network };
}
