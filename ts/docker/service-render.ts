import { withEdgeAccess, type EdgeAccess } from './edge-access.ts';
import { hashOf } from '../spec/hash.ts';
import type { BaseServiceSpec, ClusterSpec, ServiceSpec } from '../spec/types.ts';
import { composeContainerSpec, composeServiceSpec, composeTaskTemplate, tmpfsMounts } from './compose-render.ts';
import { CORESTORE_TOKEN_FILE, tokenSecretRef } from './base-token-secret.ts';
import { LABEL_HASH, LABEL_ROLE, ownershipLabels } from './labels.ts';
import type { WorkloadSecret } from './secret-content.ts';
import type { DesiredService, DockerMount, DockerSecretRef, DockerServiceSpec, ServiceRole } from './service-model.ts';

const MB = 1024 * 1024;
const NANO = 1e9;

function envList(env: Record<string, string>): string[] {
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${env[k]}`);
}

/** Adds ownership labels and the hash of everything else, so any change to the spec changes the hash. */
export function sealService(
  cluster: string,
  role: ServiceRole,
  spec: DockerServiceSpec,
  extra: Pick<DesiredService, 'invalid' | 'invalidCode' | 'excluded' | 'registryAuth' | 'pullCheck' | 'imagePin'> = {},
): DesiredService {
  const labels = { ...spec.Labels, [LABEL_ROLE]: role };
  const hash = hashOf({ ...spec, Labels: labels });
  const sealed = { ...spec, Labels: { ...ownershipLabels(cluster, 'service', hash), ...labels, [LABEL_HASH]: hash } };
  return { name: spec.Name, role, spec: sealed, hash, ...extra };
}

function cpu(n: number | undefined): number | undefined {
  return n === undefined ? undefined : Math.round(n * NANO);
}

/** Renders a workload record; `mounts` and `secrets` come from the volume and secret steps. */
export function renderWorkload(spec: ClusterSpec, s: ServiceSpec, image: string, mounts: DockerMount[] = [], secrets: DockerSecretRef[] = []): DockerServiceSpec {
  const r = s.resources;
  const hasVolume = mounts.some((m) => m.Type === 'volume');
  const allMounts = [...mounts, ...tmpfsMounts(s)];
  const ports = s.publish.map((p) => ({ TargetPort: p.target, PublishedPort: p.published, Protocol: p.protocol, PublishMode: p.mode }));
  return {
    Name: s.name,
    Labels: { ...s.labels },
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        ...(s.command ? { Command: s.command } : {}),
        ...(s.args ? { Args: s.args } : {}),
        Env: envList(s.environment),
        ...(allMounts.length > 0 ? { Mounts: allMounts } : {}),
        ...(secrets.length > 0 ? { Secrets: secrets } : {}),
        ...composeContainerSpec(s),
      },
      Resources: {
        Limits: { ...(r.memoryLimitMB > 0 ? { MemoryBytes: Math.round(r.memoryLimitMB * MB) } : {}), ...(r.cpuLimit ? { NanoCPUs: cpu(r.cpuLimit) } : {}) },
        Reservations: {
          ...(r.memoryReservationMB ? { MemoryBytes: Math.round(r.memoryReservationMB * MB) } : {}),
          ...(r.cpuReservation ? { NanoCPUs: cpu(r.cpuReservation) } : {}),
        },
      },
      Networks: s.networks
        ? s.networks.map((n) => ({ Target: n.name, ...(n.aliases && n.aliases.length > 0 ? { Aliases: n.aliases } : {}) }))
        : [{ Target: spec.networks.gateway.name, Aliases: [s.name] }],
      ...composeTaskTemplate(s),
    },
    Mode: s.mode === 'global' ? { Global: {} } : { Replicated: { Replicas: s.scaleFactor } },
    ...('dockerDefaults' in s.update
      ? {}
      : {
          UpdateConfig: {
            Parallelism: s.update.parallelism,
            // Two tasks must never write the same volume at once: stop-first where a volume is mounted.
            Order: s.update.order ?? (hasVolume ? 'stop-first' : 'start-first'),
            FailureAction: s.update.failureAction,
            // Docker drops a zero Monitor when it stores the spec; sending none keeps the live diff clean.
            ...(s.update.monitorSeconds > 0 ? { Monitor: Math.round(s.update.monitorSeconds * NANO) } : {}),
          },
        }),
    ...composeServiceSpec(s),
    ...(ports.length > 0 || s.endpointMode ? { EndpointSpec: { ...(s.endpointMode ? { Mode: s.endpointMode } : {}), ...(ports.length > 0 ? { Ports: ports } : {}) } } : {}),
  };
}

type BaseKey = keyof ClusterSpec['baseServices'];

/** Which networks each base service joins, and whether it runs one task per node. */
const BASE_LAYOUT: Record<BaseKey, { networks: ('gateway' | 'internal')[]; global: boolean }> = {
  coretraffic: { networks: ['gateway', 'internal'], global: false },
  corelog: { networks: ['internal'], global: false },
  corestore: { networks: ['gateway', 'internal'], global: true },
};

/**
 * `tokenSecret`: for corestore, the Docker secret with the Corestore API token, mounted at
 * /run/secrets/corestore_api_token with CORESTORE_API_TOKEN_FILE naming it (never the token as env).
 */
export function renderBase(spec: ClusterSpec, key: BaseKey, b: BaseServiceSpec, tokenSecret?: Pick<WorkloadSecret, 'name'>): DockerServiceSpec {
  const layout = BASE_LAYOUT[key];
  const token = key === 'corestore' ? tokenSecret : undefined;
  const env = envList(b.environment);
  return {
    Name: b.name,
    Labels: { 'coreflow.base-service': key },
    TaskTemplate: {
      ContainerSpec: {
        Image: b.image,
        ...(b.command ? { Command: b.command } : {}),
        ...(b.args ? { Args: b.args } : {}),
        Env: token ? [...env, `CORESTORE_API_TOKEN_FILE=/run/secrets/${CORESTORE_TOKEN_FILE}`] : env,
        ...(token ? { Secrets: [tokenSecretRef(token)] } : {}),
        ...(b.mounts.length > 0 ? { Mounts: b.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target })) } : {}),
      },
      Networks: layout.networks.map((n) => ({ Target: spec.networks[n].name, Aliases: [b.name] })),
    },
    Mode: layout.global ? { Global: {} } : { Replicated: { Replicas: 1 } },
    UpdateConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause', Monitor: 5 * NANO },
    ...(b.ports.length > 0
      ? {
          EndpointSpec: {
            Ports: b.ports.map((p) => ({ TargetPort: p.target, PublishedPort: p.published, Protocol: p.protocol, PublishMode: p.mode })),
          },
        }
      : {}),
  };
}

/** The image to deploy for an image as written, and how it was pinned (see docker/image-pin.ts). */
export type PinImage = (image: string) => Pick<DesiredService, 'imagePin'> & { image: string };

/** The enabled base services of a spec, sealed; `pin` gives each its image (default: as written). */
export function desiredBaseServices(
  spec: ClusterSpec,
  tokenSecret?: Pick<WorkloadSecret, 'name'>,
  pin: PinImage = (image) => ({ image }),
  edge: EdgeAccess = {},
  edgeSecret?: WorkloadSecret,
): DesiredService[] {
  return (Object.keys(BASE_LAYOUT) as BaseKey[])
    .filter((k) => spec.baseServices[k].enabled)
    .map((k) => {
      const b = spec.baseServices[k];
      const { image, imagePin } = pin(b.image);
      const rendered = renderBase(spec, k, { ...b, image }, tokenSecret);
      // coretraffic gets what it needs to reach the agent's /v1/edge (docs/routing.md).
      return sealService(spec.cluster.name, 'base', k === 'coretraffic' ? withEdgeAccess(rendered, edge, edgeSecret) : rendered, imagePin ? { imagePin } : {});
    });
}
