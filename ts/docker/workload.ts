import { notDeployedReason } from '../spec/service-category.ts';
import type { ClusterSpec, RegistrySpec, ServiceSpec } from '../spec/types.ts';
import { pinImage, resolvesImage } from './image-pin.ts';
import type { ImagePins } from './image-resolver.ts';
import { encodeRegistryAuth, imageFor, imageReferenceProblem, registryFor, registryProblems } from './registry-auth.ts';
import { SECRET_FILE, workloadSecret, type PlatformBlocked, type PlatformValues, type WorkloadSecret } from './secret-content.ts';
import type { DesiredService, DockerSecretRef, DockerServiceSpec } from './service-model.ts';
import { renderWorkload, sealService } from './service-render.ts';
import { mountProblems, renderMounts } from './volumes.ts';

/** A record's registry, resolved once, and the image reference to deploy (its host in front). */
interface Pull {
  registry: RegistrySpec | undefined;
  image: string;
}

function pullOf(spec: ClusterSpec, s: ServiceSpec): Pull {
  const registry = registryFor(spec, s);
  return { registry, image: imageFor(spec, s, registry) };
}

/**
 * Problems that make one workload record undeployable. Each fails that service alone (fail
 * small); the document as a whole was already validated.
 */
export function workloadProblems(spec: ClusterSpec, s: ServiceSpec, pull = pullOf(spec, s)): string[] {
  const problems: string[] = [];
  if (!s.image) problems.push('no image: set image');
  problems.push(...registryProblems(spec, s, pull.registry));
  const badRef = s.image ? imageReferenceProblem(pull.image) : undefined;
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

/** The secret.json mount at /run/secrets/secret.json: root-owned, mode 0444 so a non-root task user can read it. */
function secretRef(name: string): DockerSecretRef {
  return { SecretName: name, File: { Name: SECRET_FILE, UID: '0', GID: '0', Mode: 0o444 } };
}

/**
 * A deployable record: rendered with its mounts and secrets, its image pinned to the digest the
 * run resolved (when resolution is on and `pins` has one), sealed, with its registry credentials.
 */
function desiredWorkload(spec: ClusterSpec, s: ServiceSpec, { registry, image }: Pull, secret: WorkloadSecret | undefined, pins: ImagePins | undefined): DesiredService {
  const { image: deployed, imagePin } = pinImage(image, resolvesImage(spec, s) ? pins?.get(image, registry) : undefined);
  const external = (s.externalSecrets ?? []).map(
    (e): DockerSecretRef => ({ SecretName: e.name, File: { Name: e.target ?? e.name, UID: e.uid, GID: e.gid, Mode: e.mode } }),
  );
  const rendered = renderWorkload(spec, s, deployed, renderMounts(spec, s), [...(secret ? [secretRef(secret.name)] : []), ...external]);
  const registryAuth = registry ? encodeRegistryAuth(registry) : undefined;
  return sealService(spec.cluster.name, 'workload', rendered, {
    ...(imagePin ? { imagePin } : {}),
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

/**
 * Pure. Renders every workload record of the spec, each secret once for its service and its mount;
 * `pins` holds the run's digests (without it images are deployed as written).
 */
export function renderWorkloads(spec: ClusterSpec, platform?: PlatformValues, blocked?: PlatformBlocked, pins?: ImagePins): RenderedWorkloads {
  const cluster = spec.cluster.name;
  const secrets: WorkloadSecret[] = [];
  const services = spec.services.map((s) => {
    const excluded = notDeployedReason(s);
    if (excluded) return sealService(cluster, 'workload', placeholder(s.name), { excluded });
    const pull = pullOf(spec, s);
    const problems = workloadProblems(spec, s, pull);
    if (problems.length > 0) return sealService(cluster, 'workload', placeholder(s.name), { invalid: problems.join('; ') });
    const platformProblem = blocked?.(s.name);
    if (platformProblem) return sealService(cluster, 'workload', placeholder(s.name), { invalid: platformProblem.reason, invalidCode: platformProblem.code });
    const secret = workloadSecret(spec, s, platform);
    if (secret) secrets.push(secret);
    return desiredWorkload(spec, s, pull, secret, pins);
  });
  return { services, secrets };
}

/** Pure. Every workload record of the spec as a DesiredService (see renderWorkloads). */
export function desiredWorkloads(spec: ClusterSpec, platform?: PlatformValues): DesiredService[] {
  return renderWorkloads(spec, platform).services;
}
