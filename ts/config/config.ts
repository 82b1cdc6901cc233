import { z } from 'zod';
import { CoreflowError } from '../errors.ts';
import { parseDurationNs } from '../duration.ts';
import { LOG_LEVELS } from '../observe/logger.ts';
import { readEnv } from './env.ts';

/**
 * Every setting of coreflow: its environment variable, its flag and its default. The readme's
 * configuration table lists exactly these. Values come from (highest first) command-line flags,
 * the process environment, then .nogit/env.json or .nogit/env.yml (read by qenv).
 */
/** The job image of backups when none is set and the agent does not run from an image of its own. */
export const DEFAULT_BACKUP_IMAGE = 'busybox:1.36';

export const settings = {
  spec: { env: 'COREFLOW_SPEC', flag: 'spec', default: undefined, doc: 'Spec file for standalone mode, plan and apply' },
  dockerHost: { env: 'DOCKER_HOST', flag: 'docker-host', default: undefined, doc: 'Docker Engine: unix:///path, /path or tcp://host:port (default /var/run/docker.sock)' },
  stateDir: { env: 'COREFLOW_STATE_DIR', flag: 'state-dir', default: '/var/lib/coreflow', doc: 'Where the agent keeps its state (last good config, state file, event log)' },
  resyncCron: { env: 'COREFLOW_RESYNC_CRON', flag: 'resync-cron', default: '0 0 * * * *', doc: 'Full resync schedule (node-cron, with seconds); hourly by default' },
  logLevel: { env: 'COREFLOW_LOG_LEVEL', flag: 'log-level', default: 'info', doc: 'trace, debug, info, warn, error or fatal; info is the default of agent and controlplane, warn that of the commands that print a result' },
  runTimeoutMs: { env: 'COREFLOW_RUN_TIMEOUT_MS', flag: 'run-timeout-ms', default: '600000', doc: 'A run still going after this long is stopped between actions' },
  host: { env: 'COREFLOW_HOST', flag: 'host', default: '0.0.0.0', doc: 'Address the internal server listens on' },
  port: { env: 'COREFLOW_PORT', flag: 'port', default: '3000', doc: 'Port of the internal server (health, metrics, status, events, edge proxies); 0 picks a free one' },
  confirmMassDeletion: { env: 'COREFLOW_CONFIRM_MASS_DELETION', flag: 'confirm-mass-deletion', default: 'false', doc: 'Allow removing all, or more than half, of the owned workload services' },
  applyMode: { env: 'COREFLOW_APPLY_MODE', flag: 'apply-mode', default: 'auto', doc: 'auto: a run applies what it plans; approve: a run that would write stops at its plan until it is approved (coreflow approve PLAN_ID, or the control plane)' },
  cloudlyUrl: { env: 'CLOUDLY_URL', flag: 'cloudly-url', default: undefined, doc: 'Control plane WebSocket URL (ws://, wss://; path /v1/agent when none). Set: control-plane mode; unset: standalone mode with --spec' },
  jumpcode: { env: 'JUMPCODE', flag: 'jumpcode', default: undefined, doc: 'Machine token presented to the control plane; required with CLOUDLY_URL (prefer the variable: flags show in ps)' },
  jumpcodeFile: { env: 'JUMPCODE_FILE', flag: 'jumpcode-file', default: undefined, doc: 'File holding the machine token (e.g. a Docker secret under /run/secrets); instead of JUMPCODE' },
  caFile: { env: 'COREFLOW_CA_FILE', flag: 'ca-file', default: undefined, doc: 'PEM file of extra CA certificates trusted for a wss:// control plane' },
  reconnectMaxMs: { env: 'COREFLOW_RECONNECT_MAX_MS', flag: 'reconnect-max-ms', default: '60000', doc: 'Cap of the reconnect backoff (exponential from 0.5 s, with jitter; reached only after a sustained outage, see docs/protocol.md)' },
  routingTaskPollMs: { env: 'COREFLOW_ROUTING_TASK_POLL_MS', flag: 'routing-task-poll-ms', default: '500', doc: 'On a swarm of several nodes, how often routing reads the task list for tasks started or stopped on other nodes' },
  pingIntervalMs: { env: 'COREFLOW_PING_INTERVAL_MS', flag: 'ping-interval-ms', default: '15000', doc: 'Keepalive ping interval; a dead connection is detected within two intervals' },
  authRetryMs: { env: 'COREFLOW_AUTH_RETRY_MS', flag: 'auth-retry-ms', default: '60000', doc: 'First retry delay after the control plane rejected the token (doubles up to 10 minutes)' },
  edgeToken: { env: 'COREFLOW_EDGE_TOKEN', flag: 'edge-token', default: undefined, doc: 'Token edge proxies send (Authorization: Bearer) to connect to ws://agent:PORT/v1/edge; unset refuses every edge. Prefer the env var: flags show in ps' },
  edgeTokenFile: { env: 'COREFLOW_EDGE_TOKEN_FILE', flag: 'edge-token-file', default: undefined, doc: 'File holding the edge token (e.g. a Docker secret); instead of COREFLOW_EDGE_TOKEN' },
  edgeUrl: { env: 'COREFLOW_EDGE_URL', flag: 'edge-url', default: undefined, doc: 'The /v1/edge URL the coretraffic base service is given (COREFLOW_EDGE_URL in its env); default when the agent runs as a Swarm service: ws://<its service name>:<port>/v1/edge' },
  edgeNetwork: { env: 'COREFLOW_EDGE_NETWORK', flag: 'edge-network', default: undefined, doc: 'A network the agent is on that coretraffic joins to reach it; default when the agent runs as a Swarm service: its first overlay network' },
  certRefreshBeforeHours: { env: 'COREFLOW_CERT_REFRESH_BEFORE_HOURS', flag: 'cert-refresh-before-hours', default: '168', doc: 'A certificate from the control plane is fetched again this many hours before it expires' },
  cloudflareToken: { env: 'CLOUDFLARE_API_TOKEN', flag: 'cloudflare-token', default: undefined, doc: 'Cloudflare API token for the dns section (Zone:Read, DNS:Edit); never logged' },
  cloudflareTokenFile: { env: 'CLOUDFLARE_API_TOKEN_FILE', flag: 'cloudflare-token-file', default: undefined, doc: 'File holding the Cloudflare API token (read at every run; used when no token is given directly)' },
  cloudflareApiUrl: { env: 'COREFLOW_CLOUDFLARE_API_URL', flag: 'cloudflare-api-url', default: undefined, doc: 'Cloudflare API base URL (default https://api.cloudflare.com/client/v4)' },
  corestoreUrl: { env: 'CORESTORE_CONTROL_URL', flag: 'corestore-url', default: 'http://corestore:3000', doc: 'Corestore control API (platform bindings; docs/corestore.md), reached over the internal network' },
  corestoreToken: { env: 'CORESTORE_API_TOKEN', flag: 'corestore-token', default: undefined, doc: 'Corestore API token: used for the control API and handed to the corestore base service as a Docker secret file; never logged' },
  corestoreTokenFile: { env: 'CORESTORE_API_TOKEN_FILE', flag: 'corestore-token-file', default: undefined, doc: 'File holding the Corestore API token (read at every run; used when no token is given directly)' },
  releaseBindings: { env: 'CORESTORE_RELEASE_BINDINGS', flag: 'release-bindings', default: 'false', doc: 'Release (delete, with their data) the bindings of services removed from the desired state; off by default' },
  // Observability and background controllers.
  taskHealthIntervalMs: { env: 'COREFLOW_TASK_HEALTH_INTERVAL_MS', flag: 'task-health-interval-ms', default: '5000', doc: 'How often the task-health controller reads tasks and update status' },
  garbageIntervalMs: { env: 'COREFLOW_GARBAGE_INTERVAL_MS', flag: 'garbage-interval-ms', default: '60000', doc: 'How often the garbage controller looks for unreferenced owned networks and secrets' },
  garbageGraceMs: { env: 'COREFLOW_GARBAGE_GRACE_MS', flag: 'garbage-grace-ms', default: '300000', doc: 'Minimum age of an unreferenced owned network or secret before the garbage controller wakes the chain to remove it' },
  controllerTimeoutMs: { env: 'COREFLOW_CONTROLLER_TIMEOUT_MS', flag: 'controller-timeout-ms', default: '30000', doc: 'A background controller run still going after this long is abandoned (the loop goes on)' },
  eventLogMaxBytes: { env: 'COREFLOW_EVENT_LOG_MAX_BYTES', flag: 'event-log-max-bytes', default: '10485760', doc: 'Size bound of the on-disk event log (events.jsonl in the state dir)' },
  eventLogMaxAgeHours: { env: 'COREFLOW_EVENT_LOG_MAX_AGE_HOURS', flag: 'event-log-max-age-hours', default: '168', doc: 'Events older than this are trimmed from the on-disk event log' },
  retryBaseMs: { env: 'COREFLOW_RETRY_BASE_MS', flag: 'retry-base-ms', default: '1000', doc: 'First retry delay after a transient Docker error; doubles per failure' },
  retryMaxMs: { env: 'COREFLOW_RETRY_MAX_MS', flag: 'retry-max-ms', default: '300000', doc: 'Cap of the retry delay after transient Docker errors' },
  retryMaxAttempts: { env: 'COREFLOW_RETRY_MAX_ATTEMPTS', flag: 'retry-max-attempts', default: '10', doc: 'After this many failed attempts in a row an object is no longer retried until its desired state changes or `coreflow retry` asks; 0: no limit' },
  pausedUpdatePolicy: { env: 'COREFLOW_PAUSED_UPDATE_POLICY', flag: 'paused-update-policy', default: 'pause', doc: 'What happens to a service whose rolling update paused on failing tasks, unless its onPausedUpdate says: pause (stay paused, reported) or rollback' },
  pausedRollbackAfterMs: { env: 'COREFLOW_PAUSED_ROLLBACK_AFTER_MS', flag: 'paused-rollback-after-ms', default: '60000', doc: 'How long a paused update stays paused before the rollback policy rolls it back' },
  stopTimeoutMs: { env: 'COREFLOW_STOP_TIMEOUT_MS', flag: 'stop-timeout-ms', default: '10000', doc: 'Deadline of a clean stop after SIGTERM/SIGINT; past it (or on a second signal) the process exits at once' },
  readyTimeoutMs: { env: 'COREFLOW_READY_TIMEOUT_MS', flag: 'ready-timeout-ms', default: '2000', doc: 'Deadline of /readyz: a readiness check (e.g. the Docker ping) that has not answered by then fails with 503' },
  specMaxBytes: { env: 'COREFLOW_SPEC_MAX_BYTES', flag: 'spec-max-bytes', default: '4194304', doc: 'Largest spec document: the file (checked before it is read) and a pushed or PATCHed document (as JSON)' },
  specMaxDepth: { env: 'COREFLOW_SPEC_MAX_DEPTH', flag: 'spec-max-depth', default: '32', doc: 'Deepest nesting of objects and lists in a spec document' },
  specMaxServices: { env: 'COREFLOW_SPEC_MAX_SERVICES', flag: 'spec-max-services', default: '2000', doc: 'Most services in one spec document' },
  specMaxValueBytes: { env: 'COREFLOW_SPEC_MAX_VALUE_BYTES', flag: 'spec-max-value-bytes', default: '262144', doc: 'Largest single string (value or key) in a spec document' },
  specMaxAliases: { env: 'COREFLOW_SPEC_MAX_ALIASES', flag: 'spec-max-aliases', default: '100', doc: 'Bound on YAML alias expansion (yaml maxAliasCount); 0 forbids aliases' },
  specParseTimeoutMs: { env: 'COREFLOW_SPEC_PARSE_TIMEOUT_MS', flag: 'spec-parse-timeout-ms', default: '30000', doc: 'The agent stops parsing a spec (file or push) after this long and rejects it' },
  leaseSeconds: { env: 'COREFLOW_LEASE_SECONDS', flag: 'lease-seconds', default: '15', doc: 'Lease time of the one-agent-per-cluster lock in the swarm: renewed every third of it; a standby takes over once the holder has not renewed for this long' },
  dockerTimeoutMs: { env: 'COREFLOW_DOCKER_TIMEOUT_MS', flag: 'docker-timeout-ms', default: '30000', doc: 'A Docker Engine request without an answer after this long fails (the next run retries)' },
  backupDir: { env: 'COREFLOW_BACKUP_DIR', flag: 'backup-dir', default: undefined, doc: 'Where backups are stored (archives by sha256, manifests); default <state dir>/backups' },
  backupImage: { env: 'COREFLOW_BACKUP_IMAGE', flag: 'backup-image', default: undefined, doc: `Image of the one-off jobs that copy volumes: busybox, or an image with sh, tar, du and node (faster); default: the agent's own image when it runs as a Swarm service, else ${DEFAULT_BACKUP_IMAGE}` },
  backupNetwork: { env: 'COREFLOW_BACKUP_NETWORK', flag: 'backup-network', default: 'host', doc: 'Network the backup jobs attach to in order to reach the agent: host (the node\'s network), or an attachable overlay the agent is on' },
  backupAgentAddr: { env: 'COREFLOW_BACKUP_AGENT_ADDR', flag: 'backup-agent-addr', default: undefined, doc: 'HOST:PORT at which backup jobs reach the agent\'s internal server; default the manager\'s swarm address (or the agent\'s address in its subnet) and the internal server\'s port' },
  backupReplicate: { env: 'COREFLOW_BACKUP_REPLICATE', flag: 'backup-replicate', default: 'false', doc: 'Copy every backup to the control plane (control-plane mode; resumable HTTP upload) and fetch archives missing locally back from it for a restore' },
  backupTimeoutMs: { env: 'COREFLOW_BACKUP_TIMEOUT_MS', flag: 'backup-timeout-ms', default: '3600000', doc: 'A backup or restore job of one volume still running after this long fails' },
  imageCheckInterval: { env: 'COREFLOW_IMAGE_CHECK_INTERVAL', flag: 'image-check-interval', default: '5m', doc: 'How often image tags are asked of their registry again (a re-pushed tag is rolled out); a duration such as 5m, 30s, 1h' },
  registryTimeoutMs: { env: 'COREFLOW_REGISTRY_TIMEOUT_MS', flag: 'registry-timeout-ms', default: '10000', doc: 'A registry request (tag to digest) without an answer after this long fails; the service keeps the digest it runs' },
  apiToken: { env: 'COREFLOW_API_TOKEN', flag: 'api-token', default: undefined, doc: 'Token of the agent endpoints that change things (POST /v1/redeploy, /v1/suspend, /v1/resume, /v1/approve, /v1/backups; Authorization: Bearer); unset refuses them. Prefer the env var: flags show in ps' },
} as const;

export type SettingKey = keyof typeof settings;

const boolString = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' }).transform((v) => ['true', '1', 'yes'].includes(v));

const configSchema = z.strictObject({
  spec: z.string().min(1).optional(),
  dockerHost: z.string().min(1).optional(),
  stateDir: z.string().min(1),
  resyncCron: z.string().regex(/^(\S+\s+){4,5}\S+$/, { error: 'expected a cron expression with 5 or 6 fields' }),
  logLevel: z.enum(LOG_LEVELS),
  runTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(1000, { error: 'expected at least 1000 ms' }),
  host: z.string().min(1),
  port: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535, { error: 'expected a port number' }),
  confirmMassDeletion: boolString,
  applyMode: z.enum(['auto', 'approve'], { error: 'expected "auto" or "approve"' }),
  cloudlyUrl: z
    .string()
    .regex(/^(wss?|https?):\/\/[^\s/]+/, { error: 'expected a ws://, wss://, http:// or https:// URL' })
    .optional(),
  jumpcode: z.string().min(1, { error: 'must not be empty' }).optional(),
  jumpcodeFile: z.string().min(1, { error: 'expected a file path' }).optional(),
  caFile: z.string().min(1).optional(),
  reconnectMaxMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  pingIntervalMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  routingTaskPollMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  authRetryMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  edgeToken: z.string().min(16, { error: 'expected a token of at least 16 characters' }).optional(),
  edgeTokenFile: z.string().min(1, { error: 'expected a file path' }).optional(),
  edgeUrl: z.string().regex(/^wss?:\/\/[^\s/]+/, { error: 'expected a ws:// or wss:// URL' }).optional(),
  edgeNetwork: z.string().min(1).optional(),
  certRefreshBeforeHours: z.coerce.number({ error: 'expected hours' }).min(1, { error: 'expected at least 1 hour' }),
  cloudflareToken: z.string().min(1, { error: 'expected a token' }).optional(),
  cloudflareTokenFile: z.string().min(1, { error: 'expected a file path' }).optional(),
  cloudflareApiUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://api.cloudflare.com/client/v4' }).optional(),
  corestoreUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://corestore:3000' }),
  corestoreToken: z.string().min(1, { error: 'expected a token' }).optional(),
  corestoreTokenFile: z.string().min(1, { error: 'expected a file path' }).optional(),
  releaseBindings: boolString,
  taskHealthIntervalMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  garbageIntervalMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  garbageGraceMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(0),
  controllerTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  eventLogMaxBytes: z.coerce.number({ error: 'expected bytes' }).int().min(1024, { error: 'expected at least 1024 bytes' }),
  eventLogMaxAgeHours: z.coerce.number({ error: 'expected hours' }).positive({ error: 'expected a positive number of hours' }),
  retryBaseMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(10, { error: 'expected at least 10 ms' }),
  retryMaxMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(10, { error: 'expected at least 10 ms' }),
  retryMaxAttempts: z.coerce.number({ error: 'expected a whole number' }).int().min(0, { error: 'expected a number >= 0' }),
  pausedUpdatePolicy: z.enum(['pause', 'rollback'], { error: 'expected pause or rollback' }),
  pausedRollbackAfterMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(0, { error: 'expected a number >= 0' }),
  stopTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  readyTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(10, { error: 'expected at least 10 ms' }),
  specMaxBytes: z.coerce.number({ error: 'expected bytes' }).int().min(1024, { error: 'expected at least 1024 bytes' }),
  specMaxDepth: z.coerce.number({ error: 'expected a number of levels' }).int().min(8, { error: 'expected at least 8 levels' }).max(256, { error: 'expected at most 256 levels' }),
  specMaxServices: z.coerce.number({ error: 'expected a number of services' }).int().min(1, { error: 'expected at least 1' }),
  specMaxValueBytes: z.coerce.number({ error: 'expected bytes' }).int().min(256, { error: 'expected at least 256 bytes' }),
  specMaxAliases: z.coerce.number({ error: 'expected a number' }).int().min(0, { error: 'expected a number >= 0' }),
  specParseTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  leaseSeconds: z.coerce.number({ error: 'expected seconds' }).min(1, { error: 'expected at least 1 second' }).max(3600, { error: 'expected at most 3600 seconds' }),
  dockerTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  backupDir: z.string().min(1).optional(),
  backupImage: z.string().min(1).optional(),
  backupNetwork: z.string().min(1),
  backupAgentAddr: z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: 'expected HOST:PORT' }).optional(),
  backupReplicate: boolString,
  backupTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(1000, { error: 'expected at least 1000 ms' }),
  /** Milliseconds once parsed. */
  imageCheckInterval: z
    .string()
    .transform((v) => (parseDurationNs(v) ?? Number.NaN) / 1e6)
    .pipe(z.number({ error: 'expected a duration such as 5m, 30s or 1h' }).min(1000, { error: 'expected at least 1s' })),
  registryTimeoutMs: z.coerce.number({ error: 'expected milliseconds' }).int().min(100, { error: 'expected at least 100 ms' }),
  apiToken: z.string().min(16, { error: 'expected a token of at least 16 characters' }).optional(),
});

/**
 * Secret settings and the setting naming the file that holds each (the `_FILE` convention): a
 * value or its file, never both. Files are read when the value is needed (see secret-settings.ts).
 */
export const secretSettings = {
  jumpcode: 'jumpcodeFile',
  edgeToken: 'edgeTokenFile',
  cloudflareToken: 'cloudflareTokenFile',
  corestoreToken: 'corestoreTokenFile',
} as const satisfies Partial<Record<SettingKey, SettingKey>>;

/** Rules across settings: a secret by value or by file, not both; control-plane mode needs a machine token. */
function modeIssues(config: z.output<typeof configSchema>): string[] {
  const issues: string[] = [];
  for (const [value, file] of Object.entries(secretSettings) as [keyof typeof secretSettings, SettingKey][]) {
    if (config[value] !== undefined && config[file] !== undefined) {
      issues.push(`  - ${settings[value].env} (--${settings[value].flag}) and ${settings[file].env} (--${settings[file].flag}): both are set; give the value or the file that holds it, not both`);
    }
  }
  if (config.cloudlyUrl && !config.jumpcode && !config.jumpcodeFile) {
    issues.push(`  - ${settings.jumpcode.env} (--${settings.jumpcode.flag}) or ${settings.jumpcodeFile.env} (--${settings.jumpcodeFile.flag}): required when ${settings.cloudlyUrl.env} is set`);
  }
  return issues;
}

export type CoreflowConfig = Readonly<z.output<typeof configSchema>>;

/**
 * Builds the one validated, frozen config. Flags win over the environment. Every problem is
 * listed, by variable and flag name, in one COREFLOW_ERR_CONFIG_INVALID.
 */
export async function loadConfig(flags: Partial<Record<SettingKey, string | boolean>> = {}, cwd = process.cwd()): Promise<CoreflowConfig> {
  const keys = Object.keys(settings) as SettingKey[];
  const env = await readEnv(keys.map((k) => settings[k].env), cwd);
  const raw: Record<string, unknown> = {};
  for (const k of keys) {
    const flag = flags[k];
    const value = flag !== undefined ? String(flag) : env[settings[k].env] ?? settings[k].default;
    if (value !== undefined) raw[k] = value;
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const details = result.error.issues
      .map((i) => {
        const key = String(i.path[0]) as SettingKey;
        const s = settings[key];
        return `  - ${s ? `${s.env} (--${s.flag})` : key}: ${i.message}`;
      })
      .join('\n');
    throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details });
  }
  const issues = modeIssues(result.data);
  if (issues.length > 0) throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details: issues.join('\n') });
  return Object.freeze(result.data);
}
