import type { CoreflowConfig } from '../config/config.ts';
import { secretSource } from '../config/secret-settings.ts';
import type { BindingsStepOptions } from './bindings-step.ts';
import { CorestoreClient } from './corestore-client.ts';

/**
 * The Corestore API token: the one given directly (CORESTORE_API_TOKEN) or the file
 * (CORESTORE_API_TOKEN_FILE), read at every call so a rotated token is picked up without a
 * restart. An unreadable or empty file fails with COREFLOW_ERR_SECRET_FILE naming the setting and
 * the path, never the content. Undefined when neither is set.
 */
export function corestoreTokenSource(config: { corestoreToken?: string | undefined; corestoreTokenFile?: string | undefined }): () => Promise<string | undefined> {
  return secretSource(config, 'corestoreToken');
}

/** The bindings steps' options from the validated config: the Corestore client and the release opt-in. */
export function bindingsStepOptions(config: Pick<CoreflowConfig, 'corestoreUrl' | 'corestoreToken' | 'corestoreTokenFile' | 'releaseBindings'>): BindingsStepOptions {
  const token = corestoreTokenSource(config);
  return { provider: new CorestoreClient({ baseUrl: config.corestoreUrl, token }), release: config.releaseBindings, token };
}
