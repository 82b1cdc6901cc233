import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * This process's lease holder id: `<swarm node id>/<hostname>/<pid>-<random>`. In a Swarm task the
 * hostname is the container's ID; the random part tells a restarted process from the one before.
 */
export function holderId(nodeId: string | undefined): string {
  return `${nodeId ?? 'unknown-node'}/${hostname()}/${process.pid}-${randomBytes(3).toString('hex')}`;
}
