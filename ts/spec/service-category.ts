import type { ServiceSpec } from './types.ts';

/**
 * Why a service record is not deployed, or undefined when it is: only records without a
 * serviceCategory or with `workload` become services (and so get secrets, routes and DNS).
 */
export function notDeployedReason(s: Pick<ServiceSpec, 'serviceCategory'>): string | undefined {
  if (s.serviceCategory === undefined || s.serviceCategory === 'workload') return undefined;
  return `serviceCategory is "${s.serviceCategory}"; only workload records are deployed`;
}

/** Whether a service record is deployed (see notDeployedReason). */
export function isDeployed(s: Pick<ServiceSpec, 'serviceCategory'>): boolean {
  return notDeployedReason(s) === undefined;
}
