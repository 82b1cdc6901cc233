import type Docker from 'dockerode';
import { networkPruneStep, networksStep } from '../docker/networks.ts';
import { desiredBaseServices } from '../docker/service-render.ts';
import { servicesStep } from '../docker/services.ts';
import { desiredWorkloads } from '../docker/workload.ts';
import { dnsStep, type DnsStepOptions } from '../dns/step.ts';
import type { Step } from './types.ts';

/** What steps beyond Docker need: the dns step's token source and API URL. */
export interface StepOptions {
  dns?: DnsStepOptions;
}

/**
 * The chain, in dependency order: networks -> base services -> workload services -> prune of
 * networks no longer desired -> dns. Later parts add secrets and volumes (before services) and
 * routing (after).
 */
export function defaultSteps(docker: Docker, opts: StepOptions = {}): Step[] {
  return [
    networksStep(docker),
    servicesStep(docker, { kind: 'base-services', role: 'base', dependsOn: ['networks'], desired: desiredBaseServices }),
    servicesStep(docker, { kind: 'services', role: 'workload', dependsOn: ['networks', 'base-services'], desired: desiredWorkloads }),
    networkPruneStep(docker, ['base-services', 'services']),
    dnsStep(opts.dns),
  ] as Step[];
}
