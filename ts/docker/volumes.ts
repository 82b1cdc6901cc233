import { createHash } from 'node:crypto';
import { hashOf } from '../spec/hash.ts';
import type { ClusterSpec, ServiceSpec } from '../spec/types.ts';
import { LABEL_SERVICE, ownershipLabels } from './labels.ts';
import type { DockerMount } from './service-model.ts';

export const LABEL_VOLUME_SERVICE = LABEL_SERVICE;
export const LABEL_VOLUME_BACKUP = 'coreflow.backup';
/** Set when the volume was created as prunable: only those are ever removed (see volume-prune.ts). */
export const LABEL_VOLUME_PRUNABLE = 'coreflow.prunable';

type VolumeSpec = ServiceSpec['volumes'][number];

/**
 * A stable, Docker-safe volume name from the service and the mount path:
 * `<service>_<path as a slug>_<6 hex of the path>` (e.g. web_var-lib-data_1a2b3c), at most 63
 * characters. The same service and path always give the same name, so an updated, recreated or
 * re-added service mounts the same data; the hash keeps /a-b and /a/b apart.
 */
export function derivedVolumeName(service: string, mountPath: string): string {
  const slug = mountPath.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'root';
  const hash = createHash('sha256').update(mountPath).digest('hex').slice(0, 6);
  const head = `${service}_${slug}`.slice(0, 63 - hash.length - 1).replace(/[-_.]+$/, '');
  return `${head}_${hash}`;
}

export function volumeName(service: string, v: VolumeSpec): string {
  return v.name ?? derivedVolumeName(service, v.mountPath);
}

/**
 * The driver options of a volume. For `corestore` the service's identity is passed along
 * (cluster, service, volume, mount path, backup), so the driver knows whose data it holds;
 * options from the spec win over these.
 */
function driverOptions(cluster: string, service: string, name: string, v: VolumeSpec): Record<string, string> {
  if (v.driver !== 'corestore') return { ...v.driverOptions };
  return { cluster, service, volume: name, mountPath: v.mountPath, backup: String(v.backup), ...v.driverOptions };
}

/** Pure. A named volume mount; the labels are set on the volume when a node creates it. */
export function volumeMount(cluster: string, service: string, v: VolumeSpec): DockerMount {
  const name = volumeName(service, v);
  // An external volume exists already: mounted by name, its own driver and labels untouched.
  if (v.external) return { Type: 'volume', Source: name, Target: v.mountPath, ...(v.readOnly ? { ReadOnly: true } : {}) };
  const options = driverOptions(cluster, service, name, v);
  const shape = { driver: v.driver, options };
  const labels = ownershipLabels(cluster, 'volume', hashOf(shape), {
    [LABEL_VOLUME_SERVICE]: service,
    [LABEL_VOLUME_BACKUP]: String(v.backup),
    ...(v.prunable ? { [LABEL_VOLUME_PRUNABLE]: 'true' } : {}),
  });
  return {
    Type: 'volume',
    Source: name,
    Target: v.mountPath,
    ...(v.readOnly ? { ReadOnly: true } : {}),
    VolumeOptions: {
      Labels: labels,
      DriverConfig: { Name: v.driver, ...(Object.keys(options).length > 0 ? { Options: options } : {}) },
    },
  };
}

/** Pure. Every mount of a workload: its named volumes, then its bind mounts (resources.volumeMounts). */
export function renderMounts(spec: ClusterSpec, s: ServiceSpec): DockerMount[] {
  const volumes = s.volumes.map((v) => volumeMount(spec.cluster.name, s.name, v));
  const binds = s.resources.volumeMounts.map(
    (m): DockerMount => ({ Type: 'bind', Source: m.hostFsPath, Target: m.containerFsPath, ...(m.readOnly ? { ReadOnly: true } : {}) }),
  );
  return [...volumes, ...binds];
}

/** Pure. The names of every named volume the spec's services mount. */
export function desiredVolumeNames(spec: ClusterSpec): Set<string> {
  return new Set(spec.services.flatMap((s) => s.volumes.map((v) => volumeName(s.name, v))));
}

/** Pure. Spec-level problems with a service's mounts: two mounts on one container path. */
export function mountProblems(s: ServiceSpec): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const target of [...s.volumes.map((v) => v.mountPath), ...s.resources.volumeMounts.map((m) => m.containerFsPath)]) {
    if (seen.has(target)) problems.push(`two mounts on ${target}`);
    seen.add(target);
  }
  return problems;
}
