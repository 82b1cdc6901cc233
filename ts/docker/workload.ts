import { notDeployedReason } from '../spec/service-category.ts';
import type { ClusterSpec, ServiceSpec } from '../spec/types.ts';
import { encodeRegistryAuth, imageFor, imageReferenceProblem, registryFor, registryProblems } from './registry-auth.ts';
import { SECRET_FILE, workloadSecret, type PlatformValues, type WorkloadSecret } from './secret-content.ts';
import type { DesiredService, DockerSecretRef, DockerServiceSpec } from './service-model.ts';
import { renderWorkload, sealService } from './service-render.ts';
import { mountProblems, renderMounts } from './volumes.ts';

/**
 * Problems that make one workload record undeployable. Each fails that service alone (fail
 * small); the document as a whole was already validated.
 */
export function workloadProblems(spec: ClusterSpec, s: ServiceSpec): string[] {
  const problems: string[] = [];
  if (!s.image) problems.push('no image: set image');
  problems.push(...registryProblems(spec, s));
  const badRef = s.image ? imageReferenceProblem(resolveImage(spec, s)) : undefined;
  if (badRef) problems.push(badRef);
  const bundles = new Set(spec.secretBundles.map((b) => b.id));
  for (const id of [s.secretBundleId, ...s.additionalSecretBundleIds]) {
    if (id && !bundles.has(id)) problems.push(`unknown secret bundle "${id}"`);
  }
  for (const d of s.domains) {
    if (d.port === undefined && s.ports.web === undefined) problems.push(`domain ${d.name} has no port and ports.web is not set`);
  }
  problems.push(...mountProblems(s));
  return problems;
}

/** The image reference to deploy (see imageFor: a declared registry's host is put in front). */
export function resolveImage(spec: ClusterSpec, s: ServiceSpec): string {
  return imageFor(spec, s);
}

/** The secret.json mount at /run/secrets/secret.json: root-owned, mode 0444 so a non-root task user can read it. */
function secretRef(name: string): DockerSecretRef {
  return { SecretName: name, File: { Name: SECRET_FILE, UID: '0', GID: '0', Mode: 0o444 } };
}

/** A deployable record: rendered with its mounts and secret, sealed, with its registry credentials. */
function desiredWorkload(spec: ClusterSpec, s: ServiceSpec, secret: WorkloadSecret | undefined): DesiredService {
  const image = resolveImage(spec, s);
  const rendered = renderWorkload(spec, s, image, renderMounts(spec, s), secret ? [secretRef(secret.name)] : []);
  const registry = registryFor(spec, s);
  const registryAuth = registry ? encodeRegistryAuth(registry) : undefined;
  return sealService(spec.cluster.name, 'workload', rendered, {
    ...(registryAuth ? { registryAuth } : {}),
    ...(registry ? { pullCheck: { image, registry: registry.id, withCredentials: registryAuth !== undefined } } : {}),
  });
}

/** A stand-in spec for a record that cannot be rendered; it is never applied. */
function placeholder(name: string): DockerServiceSpec {
  return { Name: name, Labels: {}, TaskTemplate: { ContainerSpec: { Image: '' } }, Mode: { Replicated: { Replicas: 0 } } };
}

/** The workload records rendered once: their services and the secrets of the deployable ones. */
export interface RenderedWorkloads {
  /** Every record: deployable, `invalid` (with the reason) or `excluded` (not deployed). */
  services: DesiredService[];
  /** The secrets of the deployable services (invalid or excluded records get none). */
  secrets: WorkloadSecret[];
}

/** Pure. Renders every workload record of the spec, each secret once for its service and its mount. */
export function renderWorkloads(spec: ClusterSpec, platform?: PlatformValues): RenderedWorkloads {
  const cluster = spec.cluster.name;
  const secrets: WorkloadSecret[] = [];
  const services = spec.services.map((s) => {
    const excluded = notDeployedReason(s);
    if (excluded) return sealService(cluster, 'workload', placeholder(s.name), { excluded });
    const problems = workloadProblems(spec, s);
    if (problems.length > 0) return sealService(cluster, 'workload', placeholder(s.name), { invalid: problems.join('; ') });
    const secret = workloadSecret(spec, s, platform);
    if (secret) secrets.push(secret);
    return desiredWorkload(spec, s, secret);
  });
  return { services, secrets };
}

/** Pure. Every workload record of the spec as a DesiredService (see renderWorkloads). */
export function desiredWorkloads(spec: ClusterSpec, platform?: PlatformValues): DesiredService[] {
  return renderWorkloads(spec, platform).services;
}
