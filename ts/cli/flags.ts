import { parseArgs } from 'node:util';
import { settings, type SettingKey } from '../config/settings.ts';
import { CoreflowError } from '../errors.ts';

export interface CliFlags {
  /** Settings given as flags; they win over the environment. */
  settings: Partial<Record<SettingKey, string | boolean>>;
  json: boolean;
  verbose: boolean;
  /** Flags a command reads itself (e.g. --controller, --addr). */
  extra: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parseFlags(argv: string[], extra: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {}): CliFlags {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    json: { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean' },
    ...extra,
  };
  for (const s of Object.values(settings)) options[s.flag] = { type: s.flag === 'confirm-mass-deletion' || s.flag === 'backup-replicate' ? 'boolean' : 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_USAGE', { details: (err as Error).message });
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const out: CliFlags['settings'] = {};
  for (const [key, s] of Object.entries(settings) as [SettingKey, (typeof settings)[SettingKey]][]) {
    const v = values[s.flag];
    if (v !== undefined && !Array.isArray(v)) out[key] = v;
  }
  const extraValues: CliFlags['extra'] = {};
  for (const k of Object.keys(extra)) extraValues[k] = values[k];
  extraValues.help = values.help;
  return { settings: out, json: values.json === true, verbose: values.verbose === true, extra: extraValues, positionals: parsed.positionals };
}
