/**
 * Ownership labels. Everything coreflow creates carries them; an object without them (or with
 * another cluster's name) is never changed or removed.
 */
export const LABEL_MANAGED_BY = 'coreflow.managed-by';
export const LABEL_CLUSTER = 'coreflow.cluster';
export const LABEL_KIND = 'coreflow.kind';
export const LABEL_HASH = 'coreflow.spec-hash';
/** base | workload, on services. */
export const LABEL_ROLE = 'coreflow.role';
export const MANAGED_BY = 'coreflow';
/** On secrets and volumes: the service they belong to. */
export const LABEL_SERVICE = 'coreflow.service';

export type OwnedKind = 'network' | 'service' | 'secret' | 'volume';

export function ownershipLabels(cluster: string, kind: OwnedKind, hash: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_CLUSTER]: cluster, [LABEL_KIND]: kind, [LABEL_HASH]: hash };
}

export function isOwned(labels: Record<string, string> | undefined | null, cluster: string): boolean {
  return labels?.[LABEL_MANAGED_BY] === MANAGED_BY && labels[LABEL_CLUSTER] === cluster;
}

/** The filter for Docker list calls that returns only this cluster's objects. */
export function ownedFilter(cluster: string): { label: string[] } {
  return { label: [`${LABEL_MANAGED_BY}=${MANAGED_BY}`, `${LABEL_CLUSTER}=${cluster}`] };
}
