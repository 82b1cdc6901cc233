import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDurationNs } from '../duration.ts';
import { nonNegativeInt, userLabels } from './primitives.ts';

/**
 * The service keys operators write in compose files (`deploy:` and service level), in the spec's
 * camelCase. Every key is optional with no default: a key not written renders nothing, so the
 * Docker spec (and its hash) of a record without them stays what it was.
 */

/** A compose duration (`10s`, `1m30s`, `500ms`), kept as written; rendered in nanoseconds. */
export const duration = z.string({ error: 'expected a duration such as 10s, 1m30s or 500ms' }).superRefine((s, ctx) => {
  const ns = parseDurationNs(s);
  if (ns === undefined) ctx.addIssue({ code: 'custom', message: `expected a duration such as 10s, 1m30s or 500ms, not "${s}"` });
  else if (ns < 0) ctx.addIssue({ code: 'custom', message: `expected a duration >= 0, not "${s}"` });
});

const stringOrList = (item: z.ZodString) => z.union([item, z.array(item)], { error: 'expected a string or a list of strings' });

const CONSTRAINT =
  /^\s*(node\.(id|hostname|role|platform\.os|platform\.arch)|(node|engine)\.labels\.[A-Za-z0-9_.-]+)\s*(==|!=)\s*[A-Za-z0-9:_\s.*()?+[\]\\^$|/-]*[A-Za-z0-9:_.*()?+[\]\\^$|/-]\s*$/;
const constraint = z.string({ error: 'expected a constraint' }).superRefine((c, ctx) => {
  if (!CONSTRAINT.test(c)) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a constraint "<attribute>==<value>" or "<attribute>!=<value>" with attribute node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<key> or engine.labels.<key>, not "${c}"`,
    });
  } else if (/^\s*node\.role\s*[=!]=/.test(c) && !/[=!]=\s*(manager|worker)\s*$/.test(c)) {
    ctx.addIssue({ code: 'custom', message: `node.role is "manager" or "worker", not "${c.replace(/^.*[=!]=\s*/, '')}"` });
  }
});

const placement = z.strictObject({
  constraints: z.array(constraint).optional(),
  preferences: z
    .array(
      z.strictObject({
        spread: z.string().regex(/^(node|engine)\.labels\.[A-Za-z0-9_.-]+$/, { error: 'expected node.labels.<key> or engine.labels.<key>' }),
      }),
    )
    .optional(),
  /** 0: no limit (Docker's default). Replicated services only. */
  maxReplicasPerNode: nonNegativeInt.optional(),
});

const healthcheck = z
  .strictObject({
    /** A string runs in the container's shell (CMD-SHELL); a list starts with NONE, CMD or CMD-SHELL. */
    test: z
      .union([
        z.string().min(1, { error: 'expected a command' }),
        z.array(z.string()).superRefine((l, ctx) => {
          const [first] = l;
          if (first === 'NONE' ? l.length !== 1 : !(first === 'CMD' || first === 'CMD-SHELL') || l.length < 2) {
            ctx.addIssue({ code: 'custom', message: 'expected ["CMD", program, args...], ["CMD-SHELL", command] or ["NONE"]' });
          }
        }),
      ])
      .optional(),
    interval: duration.optional(),
    timeout: duration.optional(),
    startPeriod: duration.optional(),
    retries: nonNegativeInt.optional(),
    /** true: no health check, not even the image's (test NONE). */
    disable: z.boolean().optional(),
  })
  .superRefine((h, ctx) => {
    if (h.disable && h.test !== undefined) ctx.addIssue({ code: 'custom', path: ['disable'], message: 'disable excludes test' });
  });

const restartPolicy = z.strictObject({
  condition: z.enum(['none', 'on-failure', 'any'], { error: 'expected "none", "on-failure" or "any"' }).optional(),
  delay: duration.optional(),
  /** 0: unlimited (Docker's default). */
  maxAttempts: nonNegativeInt.optional(),
  window: duration.optional(),
});

const rollback = z.strictObject({
  parallelism: nonNegativeInt.optional(),
  order: z.enum(['start-first', 'stop-first'], { error: 'expected "start-first" or "stop-first"' }).optional(),
  failureAction: z.enum(['pause', 'continue'], { error: 'expected "pause" or "continue"' }).optional(),
  monitorSeconds: z.number().min(0, { error: 'expected a number >= 0' }).optional(),
});

/** Linux capabilities Docker knows, without the CAP_ prefix; `ALL` means every one. */
export const CAPABILITIES = [
  'ALL', 'AUDIT_CONTROL', 'AUDIT_READ', 'AUDIT_WRITE', 'BLOCK_SUSPEND', 'BPF', 'CHECKPOINT_RESTORE', 'CHOWN', 'DAC_OVERRIDE',
  'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'IPC_LOCK', 'IPC_OWNER', 'KILL', 'LEASE', 'LINUX_IMMUTABLE', 'MAC_ADMIN', 'MAC_OVERRIDE',
  'MKNOD', 'NET_ADMIN', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_RAW', 'PERFMON', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_CHROOT', 'SYS_MODULE', 'SYS_NICE', 'SYS_PACCT', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_RESOURCE',
  'SYS_TIME', 'SYS_TTY_CONFIG', 'SYSLOG', 'WAKE_ALARM',
] as const;

/** `NET_ADMIN`, `CAP_NET_ADMIN` and `net_admin` are the same capability; Docker is given `CAP_NET_ADMIN` (or `ALL`). */
export function capabilityName(c: string): string {
  const bare = c.toUpperCase().replace(/^CAP_/, '');
  return bare === 'ALL' ? bare : `CAP_${bare}`;
}

const capability = z.string({ error: 'expected a capability name' }).refine((c) => (CAPABILITIES as readonly string[]).includes(c.toUpperCase().replace(/^CAP_/, '')), {
  error: (issue) => `unknown capability "${String(issue.input)}" (expected e.g. NET_ADMIN, SYS_TIME or ALL)`,
});

export const ULIMITS = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'] as const;

const ulimitValue = z.number({ error: 'expected a whole number' }).int({ error: 'expected a whole number' }).min(-1, { error: 'expected a number >= -1 (-1: unlimited)' });
const ulimit = z.union([
  ulimitValue,
  z.strictObject({ soft: ulimitValue, hard: ulimitValue }).superRefine((u, ctx) => {
    if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard)) ctx.addIssue({ code: 'custom', path: ['soft'], message: 'soft must not exceed hard' });
  }),
], { error: 'expected a number or { soft, hard }' });

const sysctlKey = z.string().regex(/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/, { error: 'expected a sysctl name such as net.core.somaxconn' });
const sysctls = z.union([
  z.record(sysctlKey, z.union([z.string(), z.number()], { error: 'expected a string or number' })),
  z.array(z.string().regex(/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+=.*$/, { error: 'expected "name=value" such as net.core.somaxconn=1024' })),
], { error: 'expected a map of sysctl names to values, or a list of "name=value"' });

const absolutePath = z.string({ error: 'expected an absolute container path' }).startsWith('/', { error: 'expected an absolute container path' });
const tmpfsMount = z.union([
  absolutePath,
  z.strictObject({
    target: absolutePath,
    sizeMB: z.number().positive({ error: 'expected a number > 0' }).optional(),
    /** File mode of the mount's root, e.g. 0o1777 (in YAML: 0o1777 or 1023). */
    mode: z.number().int().min(0).max(0o7777, { error: 'expected a file mode 0-0o7777' }).optional(),
  }),
], { error: 'expected an absolute container path or { target, sizeMB, mode }' });

const ip = z.string().refine((s) => isIP(s) !== 0, { error: (i) => `expected an IP address, not "${String(i.input)}"` });
const hostLabel = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const extraHost = z.string().superRefine((s, ctx) => {
  const sep = s.search(/[:=]/);
  const [host, addr] = sep < 0 ? [s, ''] : [s.slice(0, sep), s.slice(sep + 1)];
  if (!hostLabel.test(host) || isIP(addr.replace(/^\[(.*)\]$/, '$1')) === 0) ctx.addIssue({ code: 'custom', message: `expected "hostname:ip" such as "db.local:10.0.0.5", not "${s}"` });
});

/** The compose fields of a workload service, spread into the service schema. */
export const composeServiceFields = {
  placement: placement.optional(),
  healthcheck: healthcheck.optional(),
  restartPolicy: restartPolicy.optional(),
  rollback: rollback.optional(),
  stopGracePeriod: duration.optional(),
  stopSignal: z.string().regex(/^(SIG[A-Z0-9+-]+|[0-9]+)$/, { error: 'expected a signal such as SIGTERM, SIGQUIT or 15' }).optional(),
  endpointMode: z.enum(['vip', 'dnsrr'], { error: 'expected "vip" or "dnsrr"' }).optional(),
  user: z.string().regex(/^[^:\s]+(:[^:\s]+)?$/, { error: 'expected "user", "uid", "user:group" or "uid:gid"' }).optional(),
  workingDir: absolutePath.optional(),
  hostname: z.string().regex(hostLabel, { error: 'expected a hostname such as app or app.internal' }).max(253).optional(),
  /** "hostname:ip" lines for /etc/hosts, or a map hostname -> ip. */
  extraHosts: z.union([z.array(extraHost), z.record(z.string().regex(hostLabel, { error: 'expected a hostname' }), ip)], { error: 'expected a list of "hostname:ip" or a map hostname -> ip' }).optional(),
  dns: z.union([ip, z.array(ip)], { error: 'expected an IP address or a list of them' }).optional(),
  dnsSearch: stringOrList(z.string().regex(hostLabel, { error: 'expected a domain' })).optional(),
  dnsOpt: z.array(z.string().min(1)).optional(),
  init: z.boolean().optional(),
  readOnly: z.boolean().optional(),
  capAdd: z.array(capability).optional(),
  capDrop: z.array(capability).optional(),
  ulimits: z.partialRecord(z.enum(ULIMITS, { error: `expected one of ${ULIMITS.join(', ')}` }), ulimit).optional(),
  sysctls: sysctls.optional(),
  tmpfs: z.union([absolutePath, z.array(tmpfsMount)], { error: 'expected a path or a list of tmpfs mounts' }).optional(),
  logging: z.strictObject({ driver: z.string().min(1, { error: 'expected a log driver name' }), options: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional() }).optional(),
  /** Labels on the containers (compose's service-level `labels`); `labels` are the service's own. */
  containerLabels: userLabels.optional(),
};

/** The mount points of a `tmpfs` value, in order. */
export function tmpfsTargets(tmpfs: z.output<typeof composeServiceFields.tmpfs>): string[] {
  if (tmpfs === undefined) return [];
  return (Array.isArray(tmpfs) ? tmpfs : [tmpfs]).map((m) => (typeof m === 'string' ? m : m.target));
}
