import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { dockerRequest } from './request.ts';

/** The Swarm service this process runs in, its image, and the overlay networks its task is on. */
export interface SelfTask {
  service: string;
  image: string;
  networks: string[];
}

interface RawContainer {
  Config?: { Image?: string; Labels?: Record<string, string> };
  NetworkSettings?: { Networks?: Record<string, unknown> };
}

interface RawNetwork {
  Name: string;
  Scope?: string;
  Driver?: string;
  Ingress?: boolean;
}

/**
 * Whether this process runs as a Swarm task on this engine: its container (found by the hostname
 * Docker gives a container, its short ID) carries the task's service name. Undefined when not
 * (a process on the host, a container of another engine) or when anything cannot be read: the
 * caller then has no default to offer.
 */
export async function discoverSelfTask(docker: Docker, signal?: AbortSignal): Promise<SelfTask | undefined> {
  try {
    const c = await dockerRequest<RawContainer>(docker, { method: 'GET', path: `/containers/${encodeURIComponent(hostname())}/json`, ...(signal ? { signal } : {}) });
    const service = c.Config?.Labels?.['com.docker.swarm.service.name'];
    const image = c.Config?.Image;
    if (!service || !image) return undefined;
    const names = Object.keys(c.NetworkSettings?.Networks ?? {});
    const nets = await Promise.all(names.map((n) => dockerRequest<RawNetwork>(docker, { method: 'GET', path: `/networks/${encodeURIComponent(n)}`, ...(signal ? { signal } : {}) }).catch(() => undefined)));
    const networks = nets.filter((n): n is RawNetwork => n !== undefined && n.Scope === 'swarm' && n.Driver === 'overlay' && n.Ingress !== true).map((n) => n.Name);
    return { service, image, networks };
  } catch {
    return undefined;
  }
}
