import type Docker from 'dockerode';
import type { EdgeAccess } from './docker/edge-access.ts';
import { dockerModelOf, resolveRunImages } from './docker/desired-model.ts';
import { ImageResolver } from './docker/image-resolver.ts';
import { imagesStep } from './docker/images-step.ts';
import { networkPruneStep, networksStep } from './docker/networks.ts';
import type { PlatformValues } from './docker/secret-content.ts';
import { secretPruneStep } from './docker/secret-prune.ts';
import { secretsStep } from './docker/secrets.ts';
import { servicesStep } from './docker/services.ts';
import { volumeDriverProblem, volumeDriversState, volumeDriversStep } from './docker/volume-drivers.ts';
import { volumePruneStep } from './docker/volume-prune.ts';
import { dnsStep, type DnsStepOptions } from './dns/step.ts';
import type { Step } from './reconcile/types.ts';
import { corestorePlatform } from './storage/bindings-platform.ts';
import { bindingReleaseStep, bindingsStep, type BindingsStepOptions } from './storage/bindings-step.ts';
import { CorestoreClient } from './storage/corestore-client.ts';

/** What steps need beyond Docker: the dns step's token source and API URL, platform-provisioned values. */
export interface StepOptions {
  dns?: DnsStepOptions;
  platformValues?: PlatformValues;
  /** Platform bindings: the provider (default: Corestore at its default URL, without a token) and the release opt-in. */
  bindings?: BindingsStepOptions;
  /** Workload services held back after an automatic rollback: their held desired hash by name. */
  heldServices?: (name: string) => string | undefined;
  /** Resolves image tags to digests and keeps them between runs (default: a new one, 5-minute checks). */
  images?: ImageResolver;
  /** What coretraffic is given to reach the agent's /v1/edge (read at every run). */
  edge?: () => EdgeAccess;
}

/**
 * The chain, in dependency order: image tags resolved to digests -> platform bindings (provisioned in Corestore; their values join
 * the services' secrets) -> networks -> secrets (workload secrets and the corestore token) -> base services -> workload services ->
 * prune of secrets, volumes (prunable ones only) and networks no longer desired -> dns. Volumes are
 * created by Docker on the node that runs the task, from the service's mounts. Routing runs as its
 * own controller after each run. The Docker steps share one desired model per run (rendered
 * services, secrets, volumes); `platformValues` supplies values provisioned for a service
 * (platform bindings), merged into its secret below its own bundles.
 */
export function defaultSteps(docker: Docker, opts: StepOptions = {}): Step[] {
  const bindings = opts.bindings ?? { provider: new CorestoreClient({ token: async () => undefined }), release: false };
  const model = dockerModelOf(opts.platformValues, (spec, ctx) => {
    const platform = corestorePlatform(spec, ctx);
    const drivers = volumeDriversState(ctx).available;
    return { ...platform, blocked: (service) => volumeDriverProblem(spec, service, drivers) ?? platform.blocked(service) };
  }, opts.edge);
  const prepare = resolveRunImages(opts.images ?? new ImageResolver());
  return [
    // First: the model every later step reads is rendered once, with the digests.
    imagesStep(prepare),
    bindingsStep(bindings),
    volumeDriversStep(docker),
    networksStep(docker),
    secretsStep(docker, { model }),
    servicesStep(docker, { kind: 'base-services', role: 'base', dependsOn: ['networks', 'secrets'], desired: (spec, ctx) => model(spec, ctx).baseServices, prepare }),
    servicesStep(docker, {
      kind: 'services',
      role: 'workload',
      dependsOn: ['networks', 'base-services', 'secrets'],
      desired: (spec, ctx) => model(spec, ctx).workloads.services,
      prepare,
      ...(opts.heldServices ? { held: opts.heldServices } : {}),
    }),
    secretPruneStep(docker, ['secrets', 'services'], { model }),
    volumePruneStep(docker, ['services'], { model }),
    bindingReleaseStep(docker, bindings),
    networkPruneStep(docker, ['base-services', 'services']),
    dnsStep(opts.dns),
  ] as Step[];
}
