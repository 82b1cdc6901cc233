import type Docker from 'dockerode';
import { ownedFilter } from './labels.ts';

export interface TaskCount {
  /** Tasks in state running. */
  running: number;
  /** Replicas asked for; null for global services (one per eligible node). */
  desired: number | null;
}

/**
 * Running tasks per owned service of `cluster`, by service name: two list calls, whatever the
 * number of services. Used for status reports; it reads, never writes.
 */
export async function serviceTaskCounts(docker: Docker, cluster: string): Promise<Record<string, TaskCount>> {
  const services = await docker.listServices({ filters: ownedFilter(cluster) });
  if (services.length === 0) return {};
  const tasks = await docker.listTasks({ filters: { service: services.map((s) => s.ID!), 'desired-state': ['running'] } });
  const out: Record<string, TaskCount> = {};
  const byId = new Map<string, TaskCount>();
  for (const s of services) {
    const count: TaskCount = { running: 0, desired: s.Spec?.Mode?.Replicated ? (s.Spec.Mode.Replicated.Replicas ?? 1) : null };
    out[s.Spec?.Name ?? s.ID!] = count;
    byId.set(s.ID!, count);
  }
  for (const task of tasks) {
    const count = task.ServiceID ? byId.get(task.ServiceID) : undefined;
    if (count && task.Status?.State === 'running') count.running++;
  }
  return out;
}
