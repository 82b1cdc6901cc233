import { createHash } from 'node:crypto';
import type { ErrorCode } from '../errors.ts';
import { canonicalJson } from '../spec/hash.ts';
import type { ClusterSpec, ServiceSpec } from '../spec/types.ts';

/** The file name services of this platform read their secrets from: /run/secrets/secret.json. */
export const SECRET_FILE = 'secret.json';
/** Docker limits secret names to 64 characters. */
const MAX_SECRET_NAME = 64;
const NAME_HASH_LENGTH = 12;

/**
 * Values provisioned by the platform for a service (database URIs, object storage keys...), merged
 * into its secret. Returns undefined when there are none. Supplied by the platform bindings work.
 */
export type PlatformValues = (serviceName: string) => Record<string, string> | undefined;

/**
 * Why a service cannot get its platform values in this run (a binding failed or is not ready):
 * such a service is neither created nor updated, and a running one keeps its last secret.
 */
export type PlatformBlocked = (serviceName: string) => { reason: string; code: ErrorCode } | undefined;

/** One service's secret as it must exist in Docker. `content` is secret: only the applier may read it. */
export interface WorkloadSecret {
  /** `<service>-secret-<hash>`: a new name for every new content (Docker secrets are immutable). */
  name: string;
  service: string;
  /** Short hash in the name and the hash label. Salted with cluster and service; never the value. */
  hash: string;
  /** The flattened JSON written to /run/secrets/secret.json. */
  content: string;
}

/**
 * Merges the values a service sees, lowest precedence first:
 *   1. values provisioned by the platform (platform bindings),
 *   2. additionalSecretBundleIds, in the order listed (a later bundle wins over an earlier one),
 *   3. the service's own secretBundleId.
 * A key set at a higher level replaces the same key from a lower one. Unknown bundle ids are
 * ignored here: workloadProblems fails such a service before anything is rendered.
 */
export function mergeSecretValues(spec: ClusterSpec, s: ServiceSpec, platform?: PlatformValues): Record<string, string> {
  const bundles = new Map(spec.secretBundles.map((b) => [b.id, b.values]));
  const merged: Record<string, string> = { ...(platform?.(s.name) ?? {}) };
  for (const id of s.additionalSecretBundleIds) Object.assign(merged, bundles.get(id) ?? {});
  if (s.secretBundleId) Object.assign(merged, bundles.get(s.secretBundleId) ?? {});
  return merged;
}

/** Whether a service gets a secret at all: it names a bundle or the platform provisioned values. */
function wantsSecret(s: ServiceSpec, platform?: PlatformValues): boolean {
  return s.secretBundleId !== undefined || s.additionalSecretBundleIds.length > 0 || Object.keys(platform?.(s.name) ?? {}).length > 0;
}

/** Pure. The Docker secret of one workload service, or undefined when it has no secret values. */
export function workloadSecret(spec: ClusterSpec, s: ServiceSpec, platform?: PlatformValues): WorkloadSecret | undefined {
  if (!wantsSecret(s, platform)) return undefined;
  const content = canonicalJson(mergeSecretValues(spec, s, platform));
  // Salted with cluster and service so equal content of two services gives unrelated names.
  const hash = createHash('sha256').update(`${spec.cluster.name}\0${s.name}\0${content}`).digest('hex').slice(0, NAME_HASH_LENGTH);
  const suffix = `-secret-${hash}`;
  const prefix = s.name.slice(0, MAX_SECRET_NAME - suffix.length).replace(/[-_.]+$/, '');
  return { name: `${prefix}${suffix}`, service: s.name, hash, content };
}
