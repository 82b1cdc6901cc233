import type { RunContext } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { corestoreTokenSecret } from './base-token-secret.ts';
import { edgeTokenSecret, type EdgeAccess } from './edge-access.ts';
import { imageRequests, pinBaseImage } from './image-pin.ts';
import type { ImagePins, ImageResolver } from './image-resolver.ts';
import type { PlatformBlocked, PlatformValues, WorkloadSecret } from './secret-content.ts';
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
  /** Secrets of base services: the Corestore API token of the corestore base service, the edge token of coretraffic. */
  baseSecrets: WorkloadSecret[];
  /** Names of the desired secrets: the prune step keeps these. */
  secretNames: ReadonlySet<string>;
  volumeNames: ReadonlySet<string>;
}

/** Pure. Builds the model (see DockerModel); `pins` holds the run's image digests. */
export function buildDockerModel(spec: ClusterSpec, platform?: PlatformValues, blocked?: PlatformBlocked, baseToken?: BaseToken, pins?: ImagePins, edge: EdgeAccess = {}): DockerModel {
  const workloads = renderWorkloads(spec, platform, blocked, pins);
  const corestore = spec.baseServices.corestore;
  const tokenSecret = corestore.enabled && baseToken?.value ? corestoreTokenSecret(spec.cluster.name, corestore.name, baseToken.value) : undefined;
  const traffic = spec.baseServices.coretraffic;
  const edgeSecret = traffic.enabled && edge.token ? edgeTokenSecret(spec.cluster.name, traffic.name, edge.token) : undefined;
  const baseSecrets = [...(tokenSecret ? [tokenSecret] : []), ...(edgeSecret ? [edgeSecret] : [])];
  let baseServices = desiredBaseServices(spec, tokenSecret, (image) => pinBaseImage(spec, image, pins), edge, edgeSecret);
  // Without a readable token the corestore service is left as it runs (with its last token).
  if (baseToken?.problem) baseServices = baseServices.map((d) => (d.name === corestore.name ? { ...d, excluded: `kept as it is: ${baseToken.problem}` } : d));
  return {
    baseServices,
    workloads,
    baseSecrets,
    secretNames: new Set([...workloads.secrets, ...baseSecrets].map((s) => s.name)),
    volumeNames: desiredVolumeNames(spec),
  };
}

/** How a step reads the run's model. */
export type DockerModelOf = (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => DockerModel;

/** Platform values learned in a run (platform bindings): per service, its values or why it has none. */
export interface RunPlatform {
  values: PlatformValues;
  blocked: PlatformBlocked;
  baseToken?: BaseToken;
}

/** The Corestore API token for the corestore base service, or why it could not be read. Secret. */
export interface BaseToken {
  value?: string;
  problem?: string;
}

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
 * run. `perRun` (read then, after the steps that provision platform resources) wins over `platform`.
 * Once the run's images are resolved the model is the pinned one; a step that asks before (none of
 * the services steps plans before) gets one of its own without digests.
 */
export function dockerModelOf(platform?: PlatformValues, perRun?: (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => RunPlatform, edge: () => EdgeAccess = () => ({})): DockerModelOf {
  return (spec, ctx) => {
    const pins = ctx.model.peek<ImagePins>(PINS);
    return ctx.model.get(pins ? 'docker' : 'docker:unpinned', () => {
      const run = perRun?.(spec, ctx);
      return buildDockerModel(spec, run?.values ?? platform, run?.blocked, run?.baseToken, pins, edge());
    });
  };
}
