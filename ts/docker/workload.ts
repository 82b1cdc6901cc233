import type { ClusterSpec, ServiceSpec } from '../spec/types.ts';
import type { DesiredService, DockerServiceSpec } from './service-model.ts';
import { renderWorkload, sealService } from './service-render.ts';

/**
 * Problems that make one workload record undeployable. Each fails that service alone (fail
 * small); the document as a whole was already validated.
 */
export function workloadProblems(spec: ClusterSpec, s: ServiceSpec): string[] {
  const problems: string[] = [];
  if (!s.image) problems.push('no image: set image');
  if (s.registry && !spec.registries.some((r) => r.id === s.registry)) problems.push(`unknown registry "${s.registry}"`);
  const bundles = new Set(spec.secretBundles.map((b) => b.id));
  for (const id of [s.secretBundleId, ...s.additionalSecretBundleIds]) {
    if (id && !bundles.has(id)) problems.push(`unknown secret bundle "${id}"`);
  }
  for (const d of s.domains) {
    if (d.port === undefined && s.ports.web === undefined) problems.push(`domain ${d.name} has no port and ports.web is not set`);
  }
  return problems;
}

/** The image reference to deploy: a registry's host is put in front of a bare repository. */
export function resolveImage(spec: ClusterSpec, s: ServiceSpec): string {
  const image = s.image ?? '';
  const registry = s.registry ? spec.registries.find((r) => r.id === s.registry) : undefined;
  if (!registry) return image;
  const first = image.split('/')[0] ?? '';
  const hasHost = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasHost ? image : `${registry.url}/${image}`;
}

/** A stand-in spec for a record that cannot be rendered; it is never applied. */
function placeholder(name: string): DockerServiceSpec {
  return { Name: name, Labels: {}, TaskTemplate: { ContainerSpec: { Image: '' } }, Mode: { Replicated: { Replicas: 0 } } };
}

/**
 * Every workload record of the spec as a DesiredService: deployable, `invalid` (with the
 * reason) or `excluded` (a serviceCategory other than workload).
 */
export function desiredWorkloads(spec: ClusterSpec): DesiredService[] {
  const cluster = spec.cluster.name;
  return spec.services.map((s) => {
    if (s.serviceCategory !== undefined && s.serviceCategory !== 'workload') {
      return sealService(cluster, 'workload', placeholder(s.name), {
        excluded: `serviceCategory is "${s.serviceCategory}"; only workload records are deployed`,
      });
    }
    const problems = workloadProblems(spec, s);
    if (problems.length > 0) return sealService(cluster, 'workload', placeholder(s.name), { invalid: problems.join('; ') });
    return sealService(cluster, 'workload', renderWorkload(spec, s, resolveImage(spec, s)));
  });
}
