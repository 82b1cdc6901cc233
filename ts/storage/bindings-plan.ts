import { CoreflowError, type ErrorCode } from '../errors.ts';
import type { Action } from '../reconcile/types.ts';
import { bindingName } from '../spec/bindings-schema.ts';
import { isDeployed } from '../spec/service-category.ts';
import type { ClusterSpec } from '../spec/types.ts';
import type { BindingType, ProvisionedBinding } from './platform-provider.ts';

/** One binding a deployed service asks for. `key` (`service/type/name`) names its action and status object. */
export interface DesiredBinding {
  key: string;
  service: string;
  type: BindingType;
  name: string;
  envPrefix: string;
  options: Record<string, string>;
}

/** What an action carries to the applier: the request, or the resource to release. */
export type BindingPayload = { op: 'provision'; desired: DesiredBinding } | { op: 'release'; live: ProvisionedBinding };

/** Pure. The bindings of every deployed workload record, in spec order. */
export function desiredBindings(spec: ClusterSpec): DesiredBinding[] {
  return spec.services.filter(isDeployed).flatMap((s) =>
    s.bindings.map((b) => {
      const name = bindingName(s.name, b);
      return { key: `${s.name}/${b.type}/${name}`, service: s.name, type: b.type, name, envPrefix: b.envPrefix ?? '', options: { ...b.options } };
    }),
  );
}

/** Reportable facts of a resource: where it is and which credential is current, never the credential. */
export function describeBinding(b: ProvisionedBinding): string {
  return `${b.state} at ${b.endpoint} (credential ${b.credentialRef})`;
}

/**
 * Pure. Per desired binding: `skip` when Corestore holds it ready for this service (the values
 * come from the listing); `create` (provision) when it is missing; `update` (provision again,
 * idempotent) while it is provisioning or failed; a failed action when the name belongs to
 * another service of this cluster. Nothing here ever releases: see planBindingReleases.
 */
export function planBindings(desired: readonly DesiredBinding[], live: readonly ProvisionedBinding[]): Action<BindingPayload>[] {
  const byName = new Map(live.map((l) => [`${l.type}/${l.name}`, l]));
  return desired.map((d): Action<BindingPayload> => {
    const base = { kind: 'binding', name: d.key, payload: { op: 'provision', desired: d } } as const;
    const l = byName.get(`${d.type}/${d.name}`);
    if (!l) return { ...base, type: 'create', reason: 'not provisioned' };
    if (l.owner.service !== d.service) {
      const reason = new CoreflowError('COREFLOW_ERR_BINDING_NAME_IN_USE', {
        operation: `provision ${d.type} ${d.name}`,
        details: `name_in_use: it belongs to service ${l.owner.service} of this cluster`,
      }).message;
      return { ...base, type: 'create', reason: 'name in use', blocked: { status: 'failed', reason, code: 'COREFLOW_ERR_BINDING_NAME_IN_USE' } };
    }
    if (l.state !== 'ready') return { ...base, type: 'update', reason: `${l.state}${l.message ? `: ${l.message}` : ''}` };
    return { ...base, type: 'skip', reason: describeBinding(l) };
  });
}

/**
 * Pure. Bindings Corestore holds for this cluster whose service is neither desired nor running
 * (`liveServices`): released only when the operator opted in (`release`), and only within the
 * mass-deletion guard (all, or more than half, of the cluster's bindings needs a confirmation).
 * Without the opt-in they are kept and said so: their data outlives the service.
 */
export function planBindingReleases(
  spec: ClusterSpec,
  live: readonly ProvisionedBinding[],
  liveServices: ReadonlySet<string>,
  opts: { release: boolean; allowMassDeletion: boolean },
): Action<BindingPayload>[] {
  const desiredServices = new Set(spec.services.map((s) => s.name));
  const orphans = live.filter((l) => !desiredServices.has(l.owner.service) && !liveServices.has(l.owner.service));
  const actions = orphans.map((l): Action<BindingPayload> => {
    const base = { kind: 'binding', name: `${l.owner.service}/${l.type}/${l.name}`, payload: { op: 'release', live: l } } as const;
    if (!opts.release) return { ...base, type: 'skip', reason: `kept: service ${l.owner.service} was removed; bindings are released only with CORESTORE_RELEASE_BINDINGS=true` };
    return { ...base, type: 'delete', reason: `service ${l.owner.service} was removed` };
  });
  const deletes = actions.filter((a) => a.type === 'delete');
  if (!opts.allowMassDeletion && deletes.length > 0 && (deletes.length === live.length || deletes.length > live.length / 2)) {
    const reason = new CoreflowError('COREFLOW_ERR_MASS_DELETION', { count: deletes.length, total: live.length, kind: 'bindings' }).message;
    for (const a of deletes) a.blocked = { status: 'blocked', reason, code: 'COREFLOW_ERR_MASS_DELETION' };
  }
  return actions;
}

/** Why a service cannot get its platform values in this run. */
export interface BindingProblem {
  reason: string;
  code: ErrorCode;
}

/** What the bindings step learned in one run; the Docker model reads it. */
export class BindingsRunState {
  /** The cluster's bindings as Corestore listed them (undefined: not listed in this run). */
  listed: ProvisionedBinding[] | undefined;
  /** Why listing failed: every bound service fails with it. */
  listProblem: BindingProblem | undefined;
  /** Resources provisioned in this run, by binding key. */
  readonly provisioned = new Map<string, ProvisionedBinding>();
  /** Bindings that failed in this run, by key. */
  readonly failed = new Map<string, BindingProblem>();
  /** A dry run: bindings not provisioned yet do not fail their service (nothing is written anyway). */
  dryRun = false;
  /** The API token for the corestore base service (secret), or why it could not be read. */
  baseToken: { value?: string; problem?: string } | undefined;
}

/** The per-service outcome the secret renderer needs: the merged values, or why there are none. */
export type ServicePlatform = { values: Record<string, string> } | { problem: BindingProblem };

/**
 * Pure. The platform values of each bound service from what the step learned: every binding
 * ready gives its env (keys prefixed with envPrefix), merged in spec order. A service with a
 * binding that failed, is not ready or was not provisioned gets a problem instead, so it is
 * neither created nor updated (a running one keeps its last secret). In a dry run a binding still
 * to provision adds no values and no problem: the plan shows the service as it would go.
 */
export function servicePlatforms(desired: readonly DesiredBinding[], state: BindingsRunState): Map<string, ServicePlatform> {
  const out = new Map<string, ServicePlatform>();
  const listed = new Map((state.listed ?? []).map((l) => [`${l.type}/${l.name}`, l]));
  for (const d of desired) {
    const current = out.get(d.service);
    if (current && 'problem' in current) continue;
    let problem: BindingProblem | undefined = state.listProblem ?? state.failed.get(d.key);
    const b = state.provisioned.get(d.key) ?? listed.get(`${d.type}/${d.name}`);
    if (!problem && b && b.owner.service !== d.service) problem = { reason: `the name belongs to service ${b.owner.service}; give the binding another name`, code: 'COREFLOW_ERR_BINDING_NAME_IN_USE' };
    if (!problem && !b && state.dryRun) {
      // Planned only: the service is planned as if its values were there (they are not known yet).
      if (!current) out.set(d.service, { values: {} });
      continue;
    }
    if (!problem && !b) problem = { reason: 'not provisioned yet', code: 'COREFLOW_ERR_BINDING_NOT_READY' };
    if (!problem && b && b.state !== 'ready') {
      problem = { reason: new CoreflowError('COREFLOW_ERR_BINDING_NOT_READY', { type: d.type, name: d.name, service: d.service, state: b.state, details: b.message ? `: ${b.message}` : '' }).message, code: 'COREFLOW_ERR_BINDING_NOT_READY' };
    }
    if (problem) {
      out.set(d.service, { problem: { reason: `binding ${d.type} ${d.name}: ${problem.reason}`, code: problem.code } });
      continue;
    }
    const values = current && 'values' in current ? current.values : {};
    for (const [k, v] of Object.entries(b!.env)) values[`${d.envPrefix}${k}`] = v;
    out.set(d.service, { values });
  }
  return out;
}
