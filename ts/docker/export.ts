import { API_VERSION } from '../spec/schema.ts';
import { LABEL_MANAGED_BY } from './labels.ts';

/**
 * Live services to a coreflow spec (the ConfigExporter: live state to config). Pure: it reads the
 * services as `GET /services` returns them and the network names, and writes a document that
 * renders, field for field, what the services run, so that `coreflow adopt` can take them over
 * without a change. What the spec cannot express is listed in `notes`, never silently dropped.
 */

/** The label `docker stack deploy` puts on everything of a stack. */
export const LABEL_STACK_NAMESPACE = 'com.docker.stack.namespace';

const MB = 1024 * 1024;
const NANO = 1e9;

type Obj = Record<string, unknown>;

/** A service as the Engine API lists it; only Spec is read. */
export interface ExportableService {
  ID: string;
  Spec: Obj & { Name: string; Labels?: Record<string, string> };
}

export interface ExportResult {
  /** The spec document (apiVersion coreflow/v1), not yet validated. */
  doc: Obj;
  /** What the live services set that the spec cannot express, one line each. */
  notes: string[];
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const strs = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);

/** Nanoseconds as the shortest exact duration: 10000000000 -> "10s", 1500000000 -> "1500ms". */
export function formatDurationNs(n: number): string {
  if (n === 0) return '0';
  for (const [unit, size] of [['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) {
    if (n % size === 0) return `${n / size}${unit}`;
  }
  return `${n}ns`;
}

const duration = (v: unknown): string | undefined => (typeof v === 'number' ? formatDurationNs(v) : undefined);

/** Copies the keys whose value is defined. */
function defined(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function nonEmpty(o: Obj): Obj | undefined {
  const d = defined(o);
  return Object.keys(d).length > 0 ? d : undefined;
}

/** Keys of a spec part that are set to something other than Docker's default. */
function setKeys(o: Obj, known: readonly string[], defaults: Obj = {}): string[] {
  return Object.entries(o)
    .filter(([k, v]) => !known.includes(k) && v !== undefined && v !== null && v !== false && v !== 0 && v !== '' && !(isObj(v) && Object.keys(v).length === 0) && !(Array.isArray(v) && v.length === 0) && defaults[k] !== v)
    .map(([k]) => k);
}

function mounts(name: string, raw: unknown, notes: string[]): Obj {
  const volumes: Obj[] = [];
  const binds: Obj[] = [];
  const tmpfs: Obj[] = [];
  const kinds: string[] = [];
  for (const m of Array.isArray(raw) ? raw.map(obj) : []) {
    const target = str(m.Target);
    const readOnly = m.ReadOnly === true ? { readOnly: true } : {};
    if (m.Type === 'volume' && str(m.Source) && target) {
      volumes.push({ mountPath: target, name: m.Source, external: true, ...readOnly });
      kinds.push('volume');
    } else if (m.Type === 'bind' && str(m.Source) && target) {
      binds.push({ hostFsPath: m.Source, containerFsPath: target, ...readOnly });
      if (isObj(m.BindOptions) && Object.keys(m.BindOptions).length > 0) notes.push(`${name}: bind mount ${target}: BindOptions (propagation) are not expressible`);
      kinds.push('bind');
    } else if (m.Type === 'tmpfs' && target) {
      const o = obj(m.TmpfsOptions);
      const sizeMB = num(o.SizeBytes) === undefined ? undefined : (o.SizeBytes as number) / MB;
      tmpfs.push(defined({ target, sizeMB, mode: num(o.Mode) || undefined }));
      kinds.push('tmpfs');
    } else {
      notes.push(`${name}: a ${String(m.Type ?? 'unknown')} mount on ${target ?? '?'} without a name is not expressible`);
    }
  }
  // coreflow renders named volumes, then bind mounts, then tmpfs: another live order is a difference.
  const order = ['volume', 'bind', 'tmpfs'];
  if (kinds.some((k, i) => i > 0 && order.indexOf(k) < order.indexOf(kinds[i - 1]!))) {
    notes.push(`${name}: mounts are ordered ${kinds.join(', ')}; coreflow renders volumes, then bind mounts, then tmpfs (adopt will see Mounts differ)`);
  }
  return {
    ...(volumes.length > 0 ? { volumes } : {}),
    ...(binds.length > 0 ? { volumeMounts: binds } : {}),
    ...(tmpfs.length > 0 ? { tmpfs } : {}),
  };
}

function healthcheck(h: Obj): Obj | undefined {
  const test = strs(h.Test);
  return nonEmpty({
    ...(test && test[0] === 'NONE' ? { disable: true } : { test }),
    interval: duration(h.Interval),
    timeout: duration(h.Timeout),
    startPeriod: duration(h.StartPeriod),
    retries: num(h.Retries) || undefined,
  });
}

function updatePolicy(name: string, what: string, u: Obj, notes: string[]): Obj {
  if (num(u.Delay)) notes.push(`${name}: ${what}.delay (${formatDurationNs(u.Delay as number)}) is not expressible`);
  if (num(u.MaxFailureRatio)) notes.push(`${name}: ${what}.max_failure_ratio (${String(u.MaxFailureRatio)}) is not expressible`);
  // Docker stores no Monitor, Order or FailureAction when they were not given (its defaults apply);
  // coreflow always sends an order and a failure action, which adopt then sees as a difference.
  if (what === 'update_config' && (!str(u.Order) || !str(u.FailureAction))) {
    notes.push(`${name}: ${what} without order or failure_action (Docker's defaults) is not expressible; write both in the stack, or accept adopt's difference`);
  }
  return defined({
    parallelism: num(u.Parallelism),
    order: str(u.Order),
    failureAction: str(u.FailureAction),
    monitorSeconds: (num(u.Monitor) ?? 0) / NANO,
  });
}

const CONTAINER_KEYS = [
  'Image', 'Command', 'Args', 'Env', 'Labels', 'Hostname', 'Dir', 'User', 'Init', 'StopSignal', 'ReadOnly', 'StopGracePeriod', 'Healthcheck', 'Hosts',
  'DNSConfig', 'Sysctls', 'CapabilityAdd', 'CapabilityDrop', 'Ulimits', 'Mounts', 'Secrets', 'Privileges', 'Isolation',
];

/** One live service as a spec record. */
export function exportService(s: ExportableService, networkNames: ReadonlyMap<string, string>, notes: string[]): Obj {
  const spec = s.Spec;
  const name = spec.Name;
  const task = obj(spec.TaskTemplate);
  const c = obj(task.ContainerSpec);
  const env: Obj = {};
  for (const line of strs(c.Env) ?? []) {
    const at = line.indexOf('=');
    const key = at < 0 ? line : line.slice(0, at);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || at < 0) notes.push(`${name}: environment entry "${key}" is not expressible`);
    else env[key] = line.slice(at + 1);
  }
  const envKeys = (strs(c.Env) ?? []).map((l) => l.split('=')[0] ?? '');
  if (envKeys.some((k, i) => i > 0 && k < envKeys[i - 1]!)) notes.push(`${name}: environment is not sorted by name; coreflow renders it sorted (adopt will see Env differ)`);
  for (const k of setKeys(c, CONTAINER_KEYS)) notes.push(`${name}: ContainerSpec.${k} is not expressible`);
  const priv = obj(c.Privileges);
  if (priv.NoNewPrivileges === true || isObj(priv.CredentialSpec) || isObj(priv.SELinuxContext)) notes.push(`${name}: ContainerSpec.Privileges is not expressible`);
  if (str(c.Isolation) && c.Isolation !== 'default') notes.push(`${name}: ContainerSpec.Isolation is not expressible`);
  if (Array.isArray(c.Configs) && c.Configs.length > 0) notes.push(`${name}: Docker configs are not expressible (ContainerSpec.Configs)`);

  const labels = Object.fromEntries(Object.entries(spec.Labels ?? {}).filter(([k]) => !k.startsWith('coreflow.')));
  const mode = obj(spec.Mode);
  const res = obj(task.Resources);
  const limits = obj(res.Limits);
  const reservations = obj(res.Reservations);
  for (const k of setKeys(limits, ['MemoryBytes', 'NanoCPUs'])) notes.push(`${name}: Resources.Limits.${k} is not expressible`);
  for (const k of setKeys(reservations, ['MemoryBytes', 'NanoCPUs'])) notes.push(`${name}: Resources.Reservations.${k} is not expressible`);
  const mountFields = mounts(name, c.Mounts, notes);
  const { volumeMounts, ...otherMounts } = mountFields;
  const resources = defined({
    memoryLimitMB: (num(limits.MemoryBytes) ?? 0) / MB,
    cpuLimit: num(limits.NanoCPUs) ? (limits.NanoCPUs as number) / NANO : undefined,
    memoryReservationMB: num(reservations.MemoryBytes) ? (reservations.MemoryBytes as number) / MB : undefined,
    cpuReservation: num(reservations.NanoCPUs) ? (reservations.NanoCPUs as number) / NANO : undefined,
    volumeMounts,
  });

  const secrets = (Array.isArray(c.Secrets) ? c.Secrets.map(obj) : []).map((r) => {
    const file = obj(r.File);
    return defined({
      name: r.SecretName,
      target: file.Name === r.SecretName ? undefined : file.Name,
      uid: str(file.UID) ?? '0',
      gid: str(file.GID) ?? '0',
      mode: num(file.Mode) ?? 0o444,
    });
  });

  const networks = (Array.isArray(task.Networks) ? task.Networks.map(obj) : []).map((n) =>
    defined({ name: networkNames.get(String(n.Target)) ?? n.Target, aliases: strs(n.Aliases)?.length ? n.Aliases : undefined }),
  );
  if (networks.length === 0) notes.push(`${name}: joins no network; coreflow would attach it to the gateway network`);

  const endpoint = obj(spec.EndpointSpec);
  const ports = (Array.isArray(endpoint.Ports) ? endpoint.Ports.map(obj) : []).flatMap((p) => {
    if (!num(p.PublishedPort)) {
      notes.push(`${name}: port ${String(p.TargetPort)} has no published port (Docker picks one); not expressible`);
      return [];
    }
    return [defined({ target: p.TargetPort, published: p.PublishedPort, protocol: str(p.Protocol), mode: str(p.PublishMode) })];
  });

  const restart = obj(task.RestartPolicy);
  const placement = obj(task.Placement);
  if (Array.isArray(placement.Platforms) && placement.Platforms.length > 0) notes.push(`${name}: Placement.Platforms is not expressible`);
  const log = obj(task.LogDriver);
  const dnsConf = obj(c.DNSConfig);
  const health = isObj(c.Healthcheck) ? healthcheck(c.Healthcheck) : undefined;
  if (str(task.Runtime) && task.Runtime !== 'container') notes.push(`${name}: TaskTemplate.Runtime ${String(task.Runtime)} is not expressible`);
  if (num(task.ForceUpdate)) notes.push(`${name}: TaskTemplate.ForceUpdate (${String(task.ForceUpdate)}) is not kept; coreflow never force-updates`);

  return defined({
    name,
    image: str(c.Image),
    command: strs(c.Command),
    args: strs(c.Args),
    environment: env,
    labels,
    containerLabels: isObj(c.Labels) && Object.keys(c.Labels).length > 0 ? c.Labels : undefined,
    mode: isObj(mode.Global) ? 'global' : 'replicated',
    scaleFactor: isObj(mode.Global) ? undefined : num(obj(mode.Replicated).Replicas) ?? 1,
    publish: ports.length > 0 ? ports : undefined,
    endpointMode: str(endpoint.Mode),
    resources,
    ...otherMounts,
    externalSecrets: secrets.length > 0 ? secrets : undefined,
    networks: networks.length > 0 ? networks : undefined,
    update: isObj(spec.UpdateConfig) ? updatePolicy(name, 'update_config', spec.UpdateConfig, notes) : { dockerDefaults: true },
    rollback: isObj(spec.RollbackConfig) ? nonEmpty(updatePolicy(name, 'rollback_config', spec.RollbackConfig, notes)) : undefined,
    restartPolicy: nonEmpty({
      condition: str(restart.Condition),
      delay: duration(restart.Delay),
      maxAttempts: num(restart.MaxAttempts),
      window: duration(restart.Window),
    }),
    placement: nonEmpty({
      constraints: strs(placement.Constraints)?.length ? placement.Constraints : undefined,
      preferences: Array.isArray(placement.Preferences) && placement.Preferences.length > 0 ? placement.Preferences.map((p) => ({ spread: obj(obj(p).Spread).SpreadDescriptor })) : undefined,
      maxReplicasPerNode: num(placement.MaxReplicas) || undefined,
    }),
    healthcheck: health,
    stopGracePeriod: duration(c.StopGracePeriod),
    stopSignal: str(c.StopSignal),
    user: str(c.User),
    workingDir: str(c.Dir),
    hostname: str(c.Hostname),
    init: typeof c.Init === 'boolean' ? c.Init : undefined,
    readOnly: c.ReadOnly === true ? true : undefined,
    extraHosts: strs(c.Hosts)?.length
      ? (c.Hosts as string[]).map((l) => {
          const [ip, host] = l.trim().split(/\s+/);
          return `${host ?? ''}:${ip ?? ''}`;
        })
      : undefined,
    dns: strs(dnsConf.Nameservers)?.length ? dnsConf.Nameservers : undefined,
    dnsSearch: strs(dnsConf.Search)?.length ? dnsConf.Search : undefined,
    dnsOpt: strs(dnsConf.Options)?.length ? dnsConf.Options : undefined,
    capAdd: strs(c.CapabilityAdd)?.length ? (c.CapabilityAdd as string[]).map((x) => x.replace(/^CAP_/, '')) : undefined,
    capDrop: strs(c.CapabilityDrop)?.length ? (c.CapabilityDrop as string[]).map((x) => x.replace(/^CAP_/, '')) : undefined,
    ulimits: Array.isArray(c.Ulimits) && c.Ulimits.length > 0 ? Object.fromEntries(c.Ulimits.map(obj).map((u) => [u.Name, { soft: u.Soft, hard: u.Hard }])) : undefined,
    sysctls: isObj(c.Sysctls) && Object.keys(c.Sysctls).length > 0 ? c.Sysctls : undefined,
    logging: str(log.Name) ? defined({ driver: log.Name, options: isObj(log.Options) && Object.keys(log.Options).length > 0 ? log.Options : undefined }) : undefined,
  });
}

export interface ExportOptions {
  cluster: string;
  /** Network names by ID, to write names instead of IDs. */
  networkNames: ReadonlyMap<string, string>;
}

/**
 * The spec of the given services: base services off (an adopted stack runs none), both network
 * roles set to the network most of the services join, so coreflow creates no network of its own.
 */
export function exportSpec(services: readonly ExportableService[], opts: ExportOptions): ExportResult {
  const notes: string[] = [];
  const records = [...services].sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name)).map((s) => exportService(s, opts.networkNames, notes));
  for (const s of services) {
    if (s.Spec.Labels?.[LABEL_MANAGED_BY]) notes.push(`${s.Spec.Name}: already carries coreflow ownership labels (cluster ${s.Spec.Labels['coreflow.cluster'] ?? '?'})`);
  }
  const counts = new Map<string, number>();
  for (const r of records) for (const n of (r.networks as { name: string }[] | undefined) ?? []) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
  const main = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const network = main ? { name: main, external: true } : undefined;
  return {
    doc: {
      apiVersion: API_VERSION,
      cluster: { name: opts.cluster },
      ...(network ? { networks: { gateway: network, internal: network } } : {}),
      baseServices: { coretraffic: { enabled: false }, corelog: { enabled: false }, corestore: { enabled: false } },
      services: records,
    },
    notes,
  };
}
