import { readFile } from 'node:fs/promises';
import { CoreflowError, errorText } from '../errors.ts';
import { secretSettings, type CoreflowConfig } from './config.ts';
import { settings } from './settings.ts';

/** A secret setting that may also be given as a file (the `_FILE` convention). */
export type SecretSetting = keyof typeof secretSettings;

type SecretConfig = Partial<Pick<CoreflowConfig, SecretSetting | (typeof secretSettings)[SecretSetting]>>;

/** Reads a secret file, trimmed. A missing, unreadable or empty file names the setting and the path, never the content. */
export async function readSecretFile(key: SecretSetting, path: string): Promise<string> {
  const setting = settings[secretSettings[key]];
  const name = `${setting.env} (--${setting.flag})`;
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_SECRET_FILE', { setting: name, path, details: errorText(err) });
  }
  const value = text.trim();
  if (!value) throw new CoreflowError('COREFLOW_ERR_SECRET_FILE', { setting: name, path, details: 'the file is empty' });
  return value;
}

/**
 * The value of a secret setting when it is needed: the value given directly, else its file read
 * now (so a rotated file is picked up by the next read), else undefined. The config never holds
 * both (loadConfig rejects that).
 */
export function secretSource(config: SecretConfig, key: SecretSetting): () => Promise<string | undefined> {
  return async () => {
    const direct = config[key];
    if (direct !== undefined) return direct;
    const path = config[secretSettings[key]];
    return path === undefined ? undefined : readSecretFile(key, path);
  };
}

/**
 * The config with the secrets the agent needs from its start (machine token, edge token) read
 * from their files. Called before anything touches Docker, so a missing or empty file stops the
 * start with nothing changed. The edge token from a file follows the setting's own rule (16
 * characters or more).
 */
export async function withSecretFiles(config: CoreflowConfig): Promise<CoreflowConfig> {
  const jumpcode = await secretSource(config, 'jumpcode')();
  const edgeToken = await secretSource(config, 'edgeToken')();
  if (config.edgeTokenFile && edgeToken !== undefined && edgeToken.length < 16) {
    const s = settings.edgeTokenFile;
    throw new CoreflowError('COREFLOW_ERR_CONFIG_INVALID', { details: `  - ${s.env} (--${s.flag}): the file ${config.edgeTokenFile} holds a token shorter than 16 characters` });
  }
  return Object.freeze({ ...config, ...(jumpcode !== undefined ? { jumpcode } : {}), ...(edgeToken !== undefined ? { edgeToken } : {}) });
}
