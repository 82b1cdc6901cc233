import type Docker from 'dockerode';
import { networkPruneStep, networksStep } from './docker/networks.ts';
import type { PlatformValues } from './docker/secret-content.ts';
import { secretPruneStep } from './docker/secret-prune.ts';
import { SeenSecrets, secretsStep } from './docker/secrets.ts';
import { desiredBaseServices } from './docker/service-render.ts';
import { servicesStep } from './docker/services.ts';
import { volumePruneStep } from './docker/volume-prune.ts';
import { desiredWorkloads } from './docker/workload.ts';
import { dnsStep, type DnsStepOptions } from './dns/step.ts';
import type { Step } from './reconcile/types.ts';

/** What steps need beyond Docker: the dns step's token source and API URL, platform-provisioned values. */
export interface StepOptions {
  dns?: DnsStepOptions;
  platformValues?: PlatformValues;
}

/**
 * The chain, in dependency order: networks -> base services -> secrets -> workload services ->
 * prune of secrets, volumes (prunable ones only) and networks no longer desired -> dns. Volumes are
 * created by Docker on the node that runs the task, from the service's mounts. Routing runs as its
 * own controller after each run. `platformValues` supplies values provisioned for a service
 * (platform bindings); they are merged into its secret below its own bundles.
 */
export function defaultSteps(docker: Docker, opts: StepOptions = {}): Step[] {
  const { platformValues } = opts;
  const seen = new SeenSecrets();
  return [
    networksStep(docker),
    servicesStep(docker, { kind: 'base-services', role: 'base', dependsOn: ['networks'], desired: desiredBaseServices }),
    secretsStep(docker, { seen, ...(platformValues ? { platformValues } : {}) }),
    servicesStep(docker, { kind: 'services', role: 'workload', dependsOn: ['networks', 'base-services', 'secrets'], desired: (spec) => desiredWorkloads(spec, platformValues) }),
    secretPruneStep(docker, ['secrets', 'services'], { seen, ...(platformValues ? { platformValues } : {}) }),
    volumePruneStep(docker, ['services']),
    networkPruneStep(docker, ['base-services', 'services']),
    dnsStep(opts.dns),
  ] as Step[];
}
