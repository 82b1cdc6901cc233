import { imageHost } from './registry-auth.ts';

/** Where Docker Hub's distribution API answers for names without a registry host. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** An image reference taken apart for the registry's distribution API. */
export interface ImageRef {
  /** The registry host as written (`127.0.0.1:5000`), or `docker.io` for names without one. */
  host: string;
  /** The host the distribution API is asked on (Docker Hub's is registry-1.docker.io). */
  apiHost: string;
  /** The repository path inside the registry (`team/app`; Hub's official images get `library/`). */
  repository: string;
  tag: string;
  digest?: string;
  /** The reference as written with its tag made explicit (`repo` -> `repo:latest`), without a digest. */
  tagged: string;
}

/** Pure. Takes a well-formed reference apart ([host[:port]/]path[:tag][@digest]). */
export function parseImageRef(image: string): ImageRef {
  const [name = '', digest] = image.split('@', 2);
  const host = imageHost(name);
  const rest = host ? name.slice(host.length + 1) : name;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  const hasTag = colon > slash;
  const path = hasTag ? rest.slice(0, colon) : rest;
  const tag = hasTag ? rest.slice(colon + 1) : 'latest';
  const hub = host === undefined || host === 'docker.io' || host === 'index.docker.io';
  const repository = hub && !path.includes('/') ? `library/${path}` : path;
  return {
    host: host ?? 'docker.io',
    apiHost: hub ? DOCKER_HUB_API : host,
    repository,
    tag,
    ...(digest ? { digest } : {}),
    tagged: hasTag ? name : `${name}:latest`,
  };
}

/** Whether a registry host is spoken to over plain HTTP: loopback only (127.0.0.0/8, localhost, ::1). */
export function isLoopbackRegistry(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
