import type { RunContext } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { imageRequests, pinBaseImage } from './image-pin.ts';
import type { ImagePins, ImageResolver } from './image-resolver.ts';
import type { PlatformValues } from './secret-content.ts';
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

/** Pure. Builds the model (see DockerModel); `pins` holds the run's image digests. */
export function buildDockerModel(spec: ClusterSpec, platform?: PlatformValues, pins?: ImagePins): DockerModel {
  const workloads = renderWorkloads(spec, platform, pins);
  return {
    baseServices: desiredBaseServices(spec, (image) => pinBaseImage(spec, image, pins)),
    workloads,
    secretNames: new Set(workloads.secrets.map((s) => s.name)),
    volumeNames: desiredVolumeNames(spec),
  };
}

/** How a step reads the run's model. */
export type DockerModelOf = (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => DockerModel;

const PINS = 'image-pins';

/**
 * Resolves the run's image tags once (the services steps call it before they plan): the first
 * caller in a run asks the resolver, later callers wait for the same answer.
 */
export function resolveRunImages(resolver: ImageResolver): (ctx: Pick<RunContext, 'model' | 'spec' | 'signal'>) => Promise<void> {
  return async (ctx) => {
    const pins = await ctx.model.get(`${PINS}:pending`, () => resolver.resolve(imageRequests(ctx.spec), ctx.signal));
    ctx.model.get(PINS, () => pins);
  };
}

/**
 * The model reader the Docker steps of one chain share: built by the first step that asks in a
 * run. Once the run's images are resolved the model is the pinned one; a step that asks before
 * (none of the services steps) gets one of its own without digests.
 */
export function dockerModelOf(platform?: PlatformValues): DockerModelOf {
  return (spec, ctx) => {
    const pins = ctx.model.peek<ImagePins>(PINS);
    return ctx.model.get(pins ? 'docker' : 'docker:unpinned', () => buildDockerModel(spec, platform, pins));
  };
}
