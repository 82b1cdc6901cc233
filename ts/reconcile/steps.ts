import type Docker from 'dockerode';
import { networkPruneStep, networksStep } from '../docker/networks.ts';
import { desiredBaseServices } from '../docker/service-render.ts';
import { servicesStep } from '../docker/services.ts';
import { desiredWorkloads } from '../docker/workload.ts';
import type { Step } from './types.ts';

/**
 * The chain, in dependency order: networks -> base services -> workload services -> prune of
 * networks no longer desired. Later parts add secrets and volumes (before services), routing
 * and DNS (after).
 */
export function defaultSteps(docker: Docker): Step[] {
  return [
    networksStep(docker),
    servicesStep(docker, { kind: 'base-services', role: 'base', dependsOn: ['networks'], desired: desiredBaseServices }),
    servicesStep(docker, { kind: 'services', role: 'workload', dependsOn: ['networks', 'base-services'], desired: desiredWorkloads }),
    networkPruneStep(docker, ['base-services', 'services']),
  ] as Step[];
}
