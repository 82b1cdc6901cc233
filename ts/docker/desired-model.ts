import type { RunContext } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import type { PlatformBlocked, PlatformValues } from './secret-content.ts';
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
  /** Names of the desired secrets: the prune step keeps these. */
  secretNames: ReadonlySet<string>;
  volumeNames: ReadonlySet<string>;
}

/** Pure. Builds the model (see DockerModel). */
export function buildDockerModel(spec: ClusterSpec, platform?: PlatformValues, blocked?: PlatformBlocked): DockerModel {
  const workloads = renderWorkloads(spec, platform, blocked);
  return {
    baseServices: desiredBaseServices(spec),
    workloads,
    secretNames: new Set(workloads.secrets.map((s) => s.name)),
    volumeNames: desiredVolumeNames(spec),
  };
}

/** How a step reads the run's model. */
export type DockerModelOf = (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => DockerModel;

/** Platform values learned in a run (platform bindings): per service, its values or why it has none. */
export interface RunPlatform {
  values: PlatformValues;
  blocked: PlatformBlocked;
}

/**
 * The model reader the Docker steps of one chain share: built by the first step that asks in a
 * run. `perRun` (read then, after the steps that provision platform resources) wins over `platform`.
 */
export function dockerModelOf(platform?: PlatformValues, perRun?: (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => RunPlatform): DockerModelOf {
  return (spec, ctx) =>
    ctx.model.get('docker', () => {
      const run = perRun?.(spec, ctx);
      return buildDockerModel(spec, run?.values ?? platform, run?.blocked);
    });
}
