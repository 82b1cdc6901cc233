import { parseDurationNs } from '../duration.ts';
import { capabilityName, tmpfsTargets } from '../spec/service-compose-schema.ts';
import type { ServiceSpec } from '../spec/types.ts';
import type { DockerServiceSpec, DockerTmpfsMount } from './service-model.ts';

type ContainerSpec = DockerServiceSpec['TaskTemplate']['ContainerSpec'];
type TaskTemplate = DockerServiceSpec['TaskTemplate'];

const MB = 1024 * 1024;
const NANO = 1e9;

/**
 * The compose fields of a workload record in Docker's ServiceSpec (Engine API 1.41), with the
 * field names and shapes `docker service inspect` gives back, so that the live diff compares like
 * with like. A field not written renders no key at all, and neither does a value Docker drops
 * when it stores the spec (zero durations of a health check, `readOnly: false`, 0 replicas per
 * node): a key Docker drops would read as drift on every run.
 */

const ns = (d: string | undefined): number | undefined => (d === undefined ? undefined : parseDurationNs(d));

/** `{ K: v }` when v is defined (and, with nonZero, not 0), else `{}`. */
function opt<K extends string, V>(key: K, v: V | undefined, nonZero = false): { [P in K]?: V } {
  return v === undefined || (nonZero && (v as unknown) === 0) ? {} : ({ [key]: v } as { [P in K]: V });
}

const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

/** compose "host:ip" (or "host=ip", or a map) -> the hosts-file line "ip host" Docker stores. */
function hostsLines(extra: ServiceSpec['extraHosts']): string[] | undefined {
  if (extra === undefined) return undefined;
  const pairs = Array.isArray(extra)
    ? extra.map((e) => {
        const sep = e.search(/[:=]/);
        return [e.slice(0, sep), e.slice(sep + 1).replace(/^\[(.*)\]$/, '$1')] as const;
      })
    : Object.entries(extra);
  return pairs.map(([host, ip]) => `${ip} ${host}`);
}

function healthcheck(h: NonNullable<ServiceSpec['healthcheck']>): NonNullable<ContainerSpec['Healthcheck']> {
  const test = h.disable ? ['NONE'] : typeof h.test === 'string' ? ['CMD-SHELL', h.test] : h.test;
  return {
    ...opt('Test', test),
    ...opt('Interval', ns(h.interval), true),
    ...opt('Timeout', ns(h.timeout), true),
    ...opt('StartPeriod', ns(h.startPeriod), true),
    ...opt('Retries', h.retries, true),
  };
}

export function tmpfsMounts(s: ServiceSpec): DockerTmpfsMount[] {
  const objects = Array.isArray(s.tmpfs) ? s.tmpfs : [];
  return tmpfsTargets(s.tmpfs).map((target, i) => {
    const o = objects[i];
    const options = typeof o === 'object' ? { ...opt('SizeBytes', o.sizeMB === undefined ? undefined : Math.round(o.sizeMB * MB)), ...opt('Mode', o.mode, true) } : {};
    return { Type: 'tmpfs', Target: target, ...(Object.keys(options).length > 0 ? { TmpfsOptions: options } : {}) };
  });
}

function dnsConfig(s: ServiceSpec): ContainerSpec['DNSConfig'] {
  const c = { ...opt('Nameservers', list(s.dns)), ...opt('Search', list(s.dnsSearch)), ...opt('Options', s.dnsOpt) };
  return Object.keys(c).length > 0 ? c : undefined;
}

function sysctls(v: ServiceSpec['sysctls']): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const pairs = Array.isArray(v) ? v.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const) : Object.entries(v);
  return Object.fromEntries(pairs.map(([k, x]) => [k, String(x)]));
}

/** ContainerSpec keys of the compose fields (Mounts of tmpfs come through tmpfsMounts). */
export function composeContainerSpec(s: ServiceSpec): Partial<ContainerSpec> {
  return {
    ...opt('Labels', s.containerLabels),
    ...opt('Hostname', s.hostname),
    ...opt('Dir', s.workingDir),
    ...opt('User', s.user),
    ...opt('Init', s.init),
    ...opt('StopSignal', s.stopSignal),
    ...(s.readOnly ? { ReadOnly: true } : {}),
    ...opt('StopGracePeriod', ns(s.stopGracePeriod)),
    ...opt('Healthcheck', s.healthcheck && healthcheck(s.healthcheck)),
    ...opt('Hosts', hostsLines(s.extraHosts)),
    ...opt('DNSConfig', dnsConfig(s)),
    ...opt('Sysctls', sysctls(s.sysctls)),
    ...opt('CapabilityAdd', s.capAdd?.map(capabilityName)),
    ...opt('CapabilityDrop', s.capDrop?.map(capabilityName)),
    ...opt(
      'Ulimits',
      s.ulimits && Object.entries(s.ulimits).map(([Name, u]) => (typeof u === 'number' ? { Name, Hard: u, Soft: u } : { Name, Hard: u.hard, Soft: u.soft })),
    ),
  };
}

/** TaskTemplate keys of the compose fields: restart policy, placement, log driver. */
export function composeTaskTemplate(s: ServiceSpec): Partial<TaskTemplate> {
  const r = s.restartPolicy;
  const p = s.placement;
  const placement = p && {
    ...opt('Constraints', p.constraints),
    ...opt('Preferences', p.preferences?.map((x) => ({ Spread: { SpreadDescriptor: x.spread } }))),
    ...opt('MaxReplicas', p.maxReplicasPerNode, true),
  };
  return {
    ...(r ? { RestartPolicy: { ...opt('Condition', r.condition), ...opt('Delay', ns(r.delay)), ...opt('MaxAttempts', r.maxAttempts), ...opt('Window', ns(r.window)) } } : {}),
    ...(placement && Object.keys(placement).length > 0 ? { Placement: placement } : {}),
    ...(s.logging ? { LogDriver: { Name: s.logging.driver, ...opt('Options', s.logging.options) } } : {}),
  };
}

/** ServiceSpec keys of the compose fields: the rollback policy (the endpoint mode goes with EndpointSpec). */
export function composeServiceSpec(s: ServiceSpec): Pick<DockerServiceSpec, 'RollbackConfig'> {
  const b = s.rollback;
  if (!b) return {};
  return {
    RollbackConfig: {
      ...opt('Parallelism', b.parallelism),
      ...opt('Order', b.order),
      ...opt('FailureAction', b.failureAction),
      ...opt('Monitor', b.monitorSeconds === undefined ? undefined : Math.round(b.monitorSeconds * NANO), true),
    },
  };
}

/** Where the compose fields live in a Docker ServiceSpec: a path set live but not desired is one the spec no longer (or never) asked for. */
const COMPOSE_PATHS = [
  ...['Labels', 'Hostname', 'Dir', 'User', 'Init', 'StopSignal', 'ReadOnly', 'StopGracePeriod', 'Healthcheck', 'Hosts', 'DNSConfig', 'Sysctls', 'CapabilityAdd', 'CapabilityDrop', 'Ulimits'].map(
    (k) => ['TaskTemplate', 'ContainerSpec', k],
  ),
  ['TaskTemplate', 'RestartPolicy'],
  ['TaskTemplate', 'Placement', 'Constraints'],
  ['TaskTemplate', 'Placement', 'Preferences'],
  ['TaskTemplate', 'Placement', 'MaxReplicas'],
  ['TaskTemplate', 'LogDriver'],
  ['RollbackConfig'],
];

function at(obj: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

const isSet = (v: unknown) =>
  v !== undefined && v !== null && v !== false && v !== 0 && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);

/**
 * Pure. Compose fields the live service has that the desired spec does not set (a field removed
 * from the spec, or added by hand), as paths like those of the live diff. Docker adds none of
 * these by itself, so an unchanged service reports none. `dnsrr` counts as set; `vip` is Docker's
 * default endpoint mode.
 */
export function composeFieldsOnlyLive(desired: DockerServiceSpec, live: Record<string, unknown>): string[] {
  const out = COMPOSE_PATHS.filter((p) => at(desired, p) === undefined && isSet(at(live, p))).map((p) => p.filter((k) => k !== 'TaskTemplate').join('.'));
  if (desired.EndpointSpec?.Mode === undefined && at(live, ['EndpointSpec', 'Mode']) === 'dnsrr') out.push('EndpointSpec.Mode');
  return out;
}
