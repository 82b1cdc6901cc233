import { z } from 'zod';
import { CoreflowError } from '../errors.ts';
import { parseDurationNs } from '../duration.ts';
import { LOG_LEVELS } from '../observe/logger.ts';
import { readEnv } from './env.ts';
import { settings, type SettingKey } from './settings.ts';

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
