import { DNS_KIND } from './dns/plan.ts';
import { desiredDnsRecords } from './dns/desired.ts';
import { buildDockerModel } from './docker/desired-model.ts';
import type { DesiredService } from './docker/service-model.ts';
import { normalName } from './spec/dns-names.ts';
import { CoreflowError } from './errors.ts';
import type { RunControls } from './reconcile/controls.ts';
import { routedHostsFromSpec } from './spec/routed-hosts.ts';
import type { ClusterSpec } from './spec/types.ts';

/**
 * Which objects of the chain the operator's controls name: `suspend:` kinds and `suspended:`
 * services of the document, services suspended at run time, and `--target` objects with what
 * they need. The engine applies them to every plan without knowing the kinds (RunControls).
 */

/** The document's `suspend:` keys and the kinds of the chain's objects they hold. */
export const SUSPEND_KINDS: Record<keyof ClusterSpec['suspend'], string> = {
  services: 'service',
  baseServices: 'base-service',
  secrets: 'secret',
  volumes: 'volume',
  networks: 'network',
  dns: DNS_KIND,
};

/** Kinds a run-time suspension names (`coreflow suspend SERVICE`): `service/NAME`. */
export function suspensionKey(service: string): string {
  return `service/${service}`;
}

/**
 * Pure. Why an object is suspended, or undefined: its kind by `suspend:` in the document, its
 * record by `suspended: true`, or an operator at run time (`runtime`: `service/NAME` keys).
 */
export function suspensionOf(spec: ClusterSpec, runtime: ReadonlySet<string> = new Set()): RunControls['suspended'] {
  const kinds = new Map<string, string>();
  for (const [key, kind] of Object.entries(SUSPEND_KINDS) as [keyof ClusterSpec['suspend'], string][]) if (spec.suspend[key]) kinds.set(kind, `suspend.${key} in the spec`);
  const records = new Set(spec.services.filter((s) => s.suspended).map((s) => s.name));
  if (kinds.size === 0 && records.size === 0 && runtime.size === 0) return undefined;
  return (a) => {
    const byKind = kinds.get(a.kind);
    if (byKind) return byKind;
    if (a.kind === 'service' && records.has(a.name)) return 'suspended: true in the spec';
    if (runtime.has(`${a.kind}/${a.name}`)) return 'suspended by an operator';
    return undefined;
  };
}

/** The kinds `--target KIND/NAME` accepts. */
export const TARGET_KINDS = ['service', 'secret', 'volume', 'network', 'dns'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export interface Target {
  kind: TargetKind;
  name: string;
}

/** Parses `KIND/NAME`; a bad shape or kind is COREFLOW_ERR_TARGET_UNKNOWN. */
export function parseTarget(text: string): Target {
  const slash = text.indexOf('/');
  const kind = slash > 0 ? text.slice(0, slash) : '';
  const name = slash > 0 ? text.slice(slash + 1) : '';
  if (!(TARGET_KINDS as readonly string[]).includes(kind) || name === '') {
    throw new CoreflowError('COREFLOW_ERR_TARGET_UNKNOWN', { target: text, details: `expected KIND/NAME with KIND one of ${TARGET_KINDS.join(', ')}` });
  }
  return { kind: kind as TargetKind, name };
}

function networksOf(d: DesiredService): string[] {
  return (d.spec.TaskTemplate.Networks ?? []).map((n) => n.Target);
}

function volumesOf(d: DesiredService): string[] {
  const out: string[] = [];
  for (const m of d.spec.TaskTemplate.ContainerSpec.Mounts ?? []) if (m.Type === 'volume' && 'Source' in m && m.Source) out.push(m.Source);
  return out;
}

/** A secret's name is `<service>-secret-<hash>`: every version of a service's secret. */
function secretOfService(secret: string, service: string): boolean {
  return secret.startsWith(`${service}-secret-`);
}

/**
 * Pure. The objects `targets` name and what they need, as a RunControls scope: a service with
 * its networks, its secret (every version: the new one is created, the old one pruned) and its
 * volumes; a secret by name or secret bundle id; a volume; a network; a DNS name with its
 * records. A target that names nothing of the desired state is COREFLOW_ERR_TARGET_UNKNOWN, so
 * nothing runs.
 */
export function targetScope(spec: ClusterSpec, targets: readonly Target[]): NonNullable<RunControls['inScope']> {
  const model = buildDockerModel(spec);
  const services = new Map<string, { kind: string; d: DesiredService }>();
  for (const d of model.workloads.services) if (!d.excluded) services.set(d.name, { kind: 'service', d });
  for (const d of model.baseServices) services.set(d.name, { kind: 'base-service', d });
  const networks = new Set([spec.networks.gateway.name, spec.networks.internal.name]);
  const dnsNames = new Set(spec.dns ? desiredDnsRecords(spec.dns, routedHostsFromSpec(spec)).records.map((r) => normalName(r.name)) : []);
  const keys = new Set<string>();
  const secretServices = new Set<string>();
  const unknown = (t: Target, details: string) => new CoreflowError('COREFLOW_ERR_TARGET_UNKNOWN', { target: `${t.kind}/${t.name}`, details });
  for (const t of targets) {
    if (t.kind === 'service') {
      const s = services.get(t.name);
      if (!s) throw unknown(t, `no service "${t.name}" in the desired state (services: ${[...services.keys()].join(', ') || 'none'})`);
      keys.add(`${s.kind}/${t.name}`);
      for (const n of networksOf(s.d)) keys.add(`network/${n}`);
      for (const v of volumesOf(s.d)) keys.add(`volume/${v}`);
      secretServices.add(t.name);
    } else if (t.kind === 'secret') {
      const users = spec.services.filter((s) => s.secretBundleId === t.name || s.additionalSecretBundleIds.includes(t.name)).map((s) => s.name);
      if (model.secretNames.has(t.name)) keys.add(`secret/${t.name}`);
      else if (users.length > 0) for (const u of users) secretServices.add(u);
      else throw unknown(t, `no secret or secret bundle "${t.name}" in the desired state`);
    } else if (t.kind === 'volume') {
      if (!model.volumeNames.has(t.name)) throw unknown(t, `no volume "${t.name}" in the desired state`);
      keys.add(`volume/${t.name}`);
    } else if (t.kind === 'network') {
      if (!networks.has(t.name)) throw unknown(t, `no network "${t.name}" in the desired state (networks: ${[...networks].join(', ')})`);
      keys.add(`network/${t.name}`);
    } else {
      const name = normalName(t.name);
      if (!dnsNames.has(name)) throw unknown(t, `no DNS record for "${t.name}" in the desired state`);
      keys.add(`dns/${name}`);
    }
  }
  return (a) => {
    if (keys.has(`${a.kind}/${a.name}`)) return true;
    if (a.kind === 'secret') return [...secretServices].some((s) => secretOfService(a.name, s));
    // A platform binding is named "service/type/name": a service needs its bindings.
    if (a.kind === 'binding') return keys.has(`service/${a.name.slice(0, a.name.indexOf('/'))}`);
    // A DNS record is named "TYPE name".
    if (a.kind === DNS_KIND) return keys.has(`dns/${normalName(a.name.slice(a.name.indexOf(' ') + 1))}`);
    return false;
  };
}
