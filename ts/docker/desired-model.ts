import type { RunContext } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { edgeTokenSecret, type EdgeAccess } from './edge-access.ts';
import type { PlatformValues, WorkloadSecret } from './secret-content.ts';
import { desiredBaseServices } from './service-render.ts';
import type { DesiredService } from './service-model.ts';
import { desiredVolumeNames } from './volumes.ts';
import { renderWorkloads, type RenderedWorkloads } from './workload.ts';

/**
 * What the Docker steps want in one run, built once from the desired state: the rendered base
 * and workload services (registries resolved, images checked), the workload secrets and the
 * volumes the services mount. The steps plan against it instead of rendering again.
 */
export interface DockerModel {
  baseServices: DesiredService[];
  workloads: RenderedWorkloads;
  /** Every desired secret: the workloads' and coretraffic's edge token. */
  secrets: WorkloadSecret[];
  /** Names of the desired secrets: the prune step keeps these. */
  secretNames: ReadonlySet<string>;
  volumeNames: ReadonlySet<string>;
}

/** Pure. Builds the model (see DockerModel). */
export function buildDockerModel(spec: ClusterSpec, platform?: PlatformValues, edge: EdgeAccess = {}): DockerModel {
  const workloads = renderWorkloads(spec, platform);
  const traffic = spec.baseServices.coretraffic;
  const edgeSecret = traffic.enabled && edge.token ? edgeTokenSecret(spec.cluster.name, traffic.name, edge.token) : undefined;
  const secrets = [...workloads.secrets, ...(edgeSecret ? [edgeSecret] : [])];
  return {
    baseServices: desiredBaseServices(spec, edge, edgeSecret),
    workloads,
    secrets,
    secretNames: new Set(secrets.map((s) => s.name)),
    volumeNames: desiredVolumeNames(spec),
  };
}

/** How a step reads the run's model. */
export type DockerModelOf = (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => DockerModel;

/** The model reader the Docker steps of one chain share: built by the first step that asks in a run. */
export function dockerModelOf(platform?: PlatformValues, edge: () => EdgeAccess = () => ({})): DockerModelOf {
  return (spec, ctx) => ctx.model.get('docker', () => buildDockerModel(spec, platform, edge()));
}
