import type Docker from 'dockerode';
import { networkPruneStep, networksStep } from '../docker/networks.ts';
import type { PlatformValues } from '../docker/secret-content.ts';
import { secretPruneStep } from '../docker/secret-prune.ts';
import { SeenSecrets, secretsStep } from '../docker/secrets.ts';
import { desiredBaseServices } from '../docker/service-render.ts';
import { servicesStep } from '../docker/services.ts';
import { volumePruneStep } from '../docker/volume-prune.ts';
import { desiredWorkloads } from '../docker/workload.ts';
import type { Step } from './types.ts';

/**
 * The chain, in dependency order: networks -> base services -> secrets -> workload services ->
 * prune of secrets, volumes (prunable ones only) and networks no longer desired. Volumes are
 * created by Docker on the node that runs the task, from the service's mounts. Later parts add
 * routing and DNS (after the services). `platformValues` supplies values provisioned for a
 * service (platform bindings); they are merged into its secret below its own bundles.
 */
export function defaultSteps(docker: Docker, opts: { platformValues?: PlatformValues } = {}): Step[] {
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
  ] as Step[];
}
