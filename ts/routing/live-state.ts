import type Docker from 'dockerode';
import { LABEL_ROLE, ownedFilter } from '../docker/labels.ts';
import type { RawTask } from '../docker/raw-types.ts';
import { localTaskHealth } from '../docker/task-container-health.ts';
import type { RoutingNetwork, RoutingService, RoutingTask } from './types.ts';

export interface RoutingLiveState {
  services: RoutingService[];
  tasks: RoutingTask[];
  networks: RoutingNetwork[];
}

type TaskInfo = RawTask & { ID: string };

/** Task JSON -> RoutingTask; addresses lose their prefix length ("10.0.1.5/24" -> "10.0.1.5"). */
export function toRoutingTask(t: TaskInfo): RoutingTask {
  const addresses: Record<string, string> = {};
  for (const a of t.NetworksAttachments ?? []) {
    const ip = a.Addresses?.[0]?.split('/')[0];
    if (a.Network?.ID && ip) addresses[a.Network.ID] = ip;
  }
  return { id: t.ID, serviceId: t.ServiceID, state: t.Status?.State ?? 'unknown', desiredState: t.DesiredState ?? 'unknown', addresses };
}

/**
 * Four list calls: the cluster's workload services, the tasks that are wanted running, the health
 * of this node's task containers that have a health check, and the gateway network. Throws
 * COREFLOW_ERR_DOCKER_API-style errors from dockerode on failure; the caller keeps the last table
 * then.
 */
export async function readRoutingLiveState(docker: Docker, cluster: string, gatewayName: string, signal?: AbortSignal): Promise<RoutingLiveState> {
  const filters = ownedFilter(cluster);
  const abort = signal ? { abortSignal: signal } : {};
  const services = await docker.listServices({ filters: { label: [...filters.label, `${LABEL_ROLE}=workload`] }, ...abort });
  const ids = new Set(services.map((s) => s.ID));
  const tasks =
    ids.size === 0 ? [] : ((await docker.listTasks({ filters: { 'desired-state': ['running'], service: [...ids] }, ...abort })) as TaskInfo[]);
  const health = ids.size === 0 ? new Map() : await localTaskHealth(docker, signal);
  const networks = await docker.listNetworks({ filters: { name: [gatewayName] }, ...abort });
  return {
    services: services.map((s) => ({ id: s.ID, name: s.Spec?.Name ?? s.ID })),
    tasks: tasks
      .filter((t) => ids.has(t.ServiceID))
      .map((t) => {
        const h = health.get(t.ID);
        return { ...toRoutingTask(t), ...(h ? { health: h } : {}) };
      }),
    // The name filter matches substrings: keep the exact name only.
    networks: networks.filter((n) => n.Name === gatewayName).map((n) => ({ id: n.Id, name: n.Name })),
  };
}
