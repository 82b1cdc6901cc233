import type Docker from 'dockerode';
import { CoreflowError, isCoreflowError } from '../errors.ts';
import type { ClusterSpec, RegistrySpec, ServiceSpec } from '../spec/types.ts';
import { dockerRequest } from './request.ts';

/** The registry host of an image reference, or undefined for Docker Hub style names (team/app:1). */
export function imageHost(image: string): string | undefined {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : undefined;
}

/**
 * The registry a service pulls from: the one its `registry` names, else a declared registry whose
 * url is the image's host (so `127.0.0.1:5000/team/app:1` gets that registry's credentials).
 */
export function registryFor(spec: ClusterSpec, s: ServiceSpec): RegistrySpec | undefined {
  if (s.registry) return spec.registries.find((r) => r.id === s.registry);
  const host = s.image ? imageHost(s.image) : undefined;
  return host ? spec.registries.find((r) => r.url.toLowerCase() === host.toLowerCase()) : undefined;
}

/** The image reference to deploy: a registry's host is put in front of a reference without one. */
export function imageFor(spec: ClusterSpec, s: ServiceSpec, registry = registryFor(spec, s)): string {
  const image = s.image ?? '';
  return registry && !imageHost(image) ? `${registry.url}/${image}` : image;
}

/**
 * The X-Registry-Auth header value: base64url of {username, password, serveraddress}, padding
 * kept (the Engine's decoder requires it). Undefined without credentials. Never logged.
 */
export function encodeRegistryAuth(r: RegistrySpec): string | undefined {
  if (r.username === undefined || r.password === undefined) return undefined;
  const json = JSON.stringify({ username: r.username, password: r.password, serveraddress: r.url });
  return Buffer.from(json, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Pure. Why Docker would refuse an image reference ([host[:port]/]path[:tag][@digest], lowercase
 * path), or undefined when it is well formed. Checked before anything is applied.
 */
export function imageReferenceProblem(image: string): string | undefined {
  const [name = '', digest] = image.split('@', 2);
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) return `invalid image reference "${image}": bad digest`;
  const host = imageHost(name);
  const rest = host ? name.slice(host.length + 1) : name;
  const parts = rest.split('/');
  const last = parts.pop() ?? '';
  const [repo = '', tag, extra] = last.split(':');
  if (extra !== undefined || (tag !== undefined && !TAG.test(tag))) return `invalid image reference "${image}": bad tag`;
  if (![...parts, repo].every((p) => PATH_COMPONENT.test(p))) return `invalid image reference "${image}": repository names are lowercase letters, digits and . _ -`;
  return undefined;
}

/** Pure. Problems with a service's registry that fail the service before anything is applied. */
export function registryProblems(spec: ClusterSpec, s: ServiceSpec, r = registryFor(spec, s)): string[] {
  if (s.registry && !spec.registries.some((x) => x.id === s.registry)) return [`unknown registry "${s.registry}"`];
  if (r && (r.username === undefined) !== (r.password === undefined)) {
    return [`registry "${r.id}" has a ${r.username === undefined ? 'password' : 'username'} but no ${r.username === undefined ? 'username' : 'password'}`];
  }
  return [];
}

/** What the services step checks before it creates or updates a service from a declared registry. */
export interface PullCheck {
  image: string;
  registry: string;
  /** Whether credentials were configured (for the message when the registry refuses). */
  withCredentials: boolean;
}

const AUTH_FAILURE = /unauthorized|authentication required|no basic auth credentials|denied|forbidden|incorrect username or password/i;
const NOT_FOUND = /manifest unknown|not found|name unknown/i;

/**
 * Asks the registry, through the Engine (GET /distribution/{image}/json, which reads the manifest
 * without pulling layers), whether these credentials can pull the image. Docker does not check
 * credentials when a service is created; without this a bad password surfaces only as tasks that
 * never start. Called only before a create or update, never on a no-op run.
 * Throws COREFLOW_ERR_REGISTRY_AUTH, COREFLOW_ERR_IMAGE_NOT_FOUND or COREFLOW_ERR_REGISTRY_UNREACHABLE.
 */
export async function verifyImageAccess(docker: Docker, check: PullCheck, registryAuth: string | undefined, signal?: AbortSignal): Promise<void> {
  try {
    await dockerRequest(docker, { method: 'GET', path: `/distribution/${check.image}/json`, ...(registryAuth ? { registryAuth } : {}), ...(signal ? { signal } : {}) });
  } catch (err) {
    if (!isCoreflowError(err, 'COREFLOW_ERR_DOCKER_API')) throw err;
    const details = String(err.params.details ?? err.message);
    const params = { image: check.image, registry: check.registry, details };
    if (AUTH_FAILURE.test(details)) {
      const what = check.withCredentials ? 'rejected the configured credentials' : 'needs credentials and none are configured';
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_AUTH', { ...params, what });
    }
    if (NOT_FOUND.test(details)) throw new CoreflowError('COREFLOW_ERR_IMAGE_NOT_FOUND', params);
    throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', params);
  }
}
