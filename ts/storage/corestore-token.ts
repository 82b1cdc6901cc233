import { readFile } from 'node:fs/promises';
import type { CoreflowConfig } from '../config/config.ts';
import { CoreflowError, errorText } from '../errors.ts';
import type { BindingsStepOptions } from './bindings-step.ts';
import { CorestoreClient } from './corestore-client.ts';

/**
 * The Corestore API token: the one given directly (CORESTORE_API_TOKEN) wins; else the file
 * (CORESTORE_API_TOKEN_FILE), read at every call so a rotated token is picked up without a
 * restart. An unreadable or empty file fails with COREFLOW_ERR_CORESTORE_TOKEN_FILE naming the
 * path, never the content. Undefined when neither is set.
 */
export function corestoreTokenSource(config: { corestoreToken?: string | undefined; corestoreTokenFile?: string | undefined }): () => Promise<string | undefined> {
  return async () => {
    if (config.corestoreToken) return config.corestoreToken;
    const path = config.corestoreTokenFile;
    if (!path) return undefined;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new CoreflowError('COREFLOW_ERR_CORESTORE_TOKEN_FILE', { path, details: errorText(err) });
    }
    const token = text.trim();
    if (!token) throw new CoreflowError('COREFLOW_ERR_CORESTORE_TOKEN_FILE', { path, details: 'the file is empty' });
    return token;
  };
}

/** The bindings steps' options from the validated config: the Corestore client and the release opt-in. */
export function bindingsStepOptions(config: Pick<CoreflowConfig, 'corestoreUrl' | 'corestoreToken' | 'corestoreTokenFile' | 'releaseBindings'>): BindingsStepOptions {
  const token = corestoreTokenSource(config);
  return { provider: new CorestoreClient({ baseUrl: config.corestoreUrl, token }), release: config.releaseBindings, token };
}
