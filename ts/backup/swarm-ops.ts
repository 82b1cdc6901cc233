import type Docker from 'dockerode';
import { CoreflowError, isCoreflowError } from '../errors.ts';
import { isOwned } from '../docker/labels.ts';
import type { RawService, RawTask } from '../docker/raw-types.ts';
import { dockerRequest } from '../docker/request.ts';

/** A mount of a live service, as the Engine API returns it. */
export interface LiveMount {
  Type?: string;
  Source?: string;
  Target?: string;
  VolumeOptions?: { Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
}

export interface LiveServiceInfo {
  id: string;
  name: string;
  mounts: LiveMount[];
  replicas: number | undefined;
}

const ACTIVE = new Set(['new', 'pending', 'assigned', 'accepted', 'ready', 'preparing', 'starting', 'running']);

/** An owned service of the cluster by name; COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE when there is none. */
export async function ownedService(docker: Docker, cluster: string, name: string, signal?: AbortSignal): Promise<LiveServiceInfo> {
  let raw: RawService;
  try {
    raw = await dockerRequest<RawService>(docker, { method: 'GET', path: `/services/${encodeURIComponent(name)}`, ...(signal ? { signal } : {}) });
  } catch (err) {
    if (isCoreflowError(err, 'COREFLOW_ERR_DOCKER_API') && Number(err.params.status) === 404) throw new CoreflowError('COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE', { service: name, cluster });
    throw err;
  }
  if (raw.Spec.Name !== name || !isOwned(raw.Spec.Labels, cluster)) throw new CoreflowError('COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE', { service: name, cluster });
  const spec = raw.Spec as { TaskTemplate?: { ContainerSpec?: { Mounts?: LiveMount[] } } };
  return { id: raw.ID, name, mounts: spec.TaskTemplate?.ContainerSpec?.Mounts ?? [], replicas: raw.Spec.Mode?.Replicated ? (raw.Spec.Mode.Replicated.Replicas ?? 1) : undefined };
}

/** The node of the service's running task, else of its newest task, else the agent's own node. */
export async function nodeOfService(docker: Docker, serviceId: string, signal?: AbortSignal): Promise<string> {
  const filters = JSON.stringify({ service: [serviceId] });
  const tasks = await dockerRequest<RawTask[]>(docker, { method: 'GET', path: '/tasks', query: { filters }, ...(signal ? { signal } : {}) });
  const running = tasks.find((t) => t.Status.State === 'running' && t.NodeID);
  if (running?.NodeID) return running.NodeID;
  const newest = tasks.filter((t) => t.NodeID).sort((a, b) => (b.Status.Timestamp ?? '').localeCompare(a.Status.Timestamp ?? ''))[0];
  return newest?.NodeID ?? localNode(docker, signal);
}

/** The Swarm node ID and address of the engine the agent talks to. */
export async function localNode(docker: Docker, signal?: AbortSignal): Promise<string> {
  return (await swarmInfo(docker, signal)).nodeId;
}

export async function swarmInfo(docker: Docker, signal?: AbortSignal): Promise<{ nodeId: string; nodeAddr: string }> {
  const info = await dockerRequest<{ Swarm?: { NodeID?: string; NodeAddr?: string } }>(docker, { method: 'GET', path: '/info', ...(signal ? { signal } : {}) });
  return { nodeId: info.Swarm?.NodeID ?? '', nodeAddr: info.Swarm?.NodeAddr ?? '127.0.0.1' };
}

/**
 * Sets a replicated service's replica count with ServiceUpdate at the version just read (same
 * service ID, nothing else changed) and, when scaling to 0, waits until none of its tasks is
 * active. Returns the count it had. A global service cannot be scaled (COREFLOW_ERR_BACKUP_INVALID).
 */
export async function scaleService(docker: Docker, id: string, replicas: number, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<number> {
  const signal = opts.signal;
  const raw = await dockerRequest<RawService>(docker, { method: 'GET', path: `/services/${id}`, ...(signal ? { signal } : {}) });
  if (!raw.Spec.Mode?.Replicated) {
    throw new CoreflowError('COREFLOW_ERR_BACKUP_INVALID', { details: `service ${raw.Spec.Name} runs in global mode: it cannot be scaled to 0 for a consistent copy or a restore` });
  }
  const before = raw.Spec.Mode.Replicated.Replicas ?? 1;
  if (before !== replicas) {
    const body = { ...raw.Spec, Mode: { Replicated: { Replicas: replicas } } };
    await dockerRequest(docker, { method: 'POST', path: `/services/${id}/update`, query: { version: raw.Version.Index }, body, ...(signal ? { signal } : {}) });
  }
  if (replicas === 0) {
    const until = Date.now() + (opts.timeoutMs ?? 120_000);
    const filters = JSON.stringify({ service: [id] });
    for (;;) {
      const tasks = await dockerRequest<RawTask[]>(docker, { method: 'GET', path: '/tasks', query: { filters }, ...(signal ? { signal } : {}) });
      if (!tasks.some((t) => ACTIVE.has(t.Status.State))) break;
      if (Date.now() > until) throw new CoreflowError('COREFLOW_ERR_BACKUP_JOB', { job: `scale ${raw.Spec.Name} to 0`, details: 'tasks still running' });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return before;
}
