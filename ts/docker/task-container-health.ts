import type Docker from 'dockerode';
import type { RawContainer, RawContainerInspect } from './raw-types.ts';
import { dockerRequest } from './request.ts';

/** A container's health-check state (containers without a check have none). */
export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy';

/** Docker's container status line ends in "(healthy)", "(unhealthy)" or "(health: starting)" for a container with a check. */
function healthOf(status: string | undefined): ContainerHealth | undefined {
  const m = /\((healthy|unhealthy|health: starting)\)\s*$/.exec(status ?? '');
  if (!m) return undefined;
  return m[1] === 'health: starting' ? 'starting' : (m[1] as ContainerHealth);
}

/**
 * Health of the running swarm-task containers on THIS node that have a health check, by task ID:
 * one list call. Tasks on other nodes are absent (their engine is not reachable from here); for
 * them the swarm's task state is what is known (a task turns `running` only after its first
 * passing check, and is stopped by its node when it turns unhealthy).
 */
export async function localTaskHealth(docker: Docker, signal?: AbortSignal): Promise<Map<string, ContainerHealth>> {
  const filters = { label: ['com.docker.swarm.task.id'], health: ['starting', 'healthy', 'unhealthy'] };
  const list = await dockerRequest<RawContainer[]>(docker, { method: 'GET', path: '/containers/json', query: { filters: JSON.stringify(filters) }, ...(signal ? { signal } : {}) });
  const out = new Map<string, ContainerHealth>();
  for (const c of list) {
    const task = c.Labels?.['com.docker.swarm.task.id'];
    const h = healthOf(c.Status);
    if (task && h) out.set(task, h);
  }
  return out;
}

/** What a failing health check last printed in this container (trimmed, at most 300 characters), or undefined. */
export async function failingCheckOutput(docker: Docker, containerId: string, signal?: AbortSignal): Promise<string | undefined> {
  const c = await dockerRequest<RawContainerInspect>(docker, { method: 'GET', path: `/containers/${encodeURIComponent(containerId)}/json`, ...(signal ? { signal } : {}) }).catch(() => undefined);
  const last = [...(c?.State?.Health?.Log ?? [])].reverse().find((l) => l.ExitCode !== 0);
  if (!last) return undefined;
  const text = (last.Output ?? '').trim().replace(/\s+/g, ' ');
  return text === '' ? `exit code ${last.ExitCode}` : text.length > 300 ? `${text.slice(0, 300)}...` : text;
}
