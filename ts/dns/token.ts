import { readFile } from 'node:fs/promises';
import type { CoreflowConfig } from '../config/config.ts';
import { CoreflowError, errorText } from '../errors.ts';
import type { DnsStepOptions } from './step.ts';

type DnsConfig = Pick<CoreflowConfig, 'cloudflareToken' | 'cloudflareTokenFile' | 'cloudflareApiUrl'>;

/**
 * The token source of the dns step: the token given directly (--cloudflare-token or
 * CLOUDFLARE_API_TOKEN) wins; else the file (--cloudflare-token-file or
 * CLOUDFLARE_API_TOKEN_FILE), read at every run so a rotated token is picked up without a
 * restart. An unreadable file fails the dns step only, naming the path, never the content.
 */
export function cloudflareTokenSource(config: DnsConfig): () => Promise<string | undefined> {
  return async () => {
    if (config.cloudflareToken) return config.cloudflareToken;
    const path = config.cloudflareTokenFile;
    if (!path) return undefined;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new CoreflowError('COREFLOW_ERR_DNS_TOKEN_FILE', { path, details: errorText(err) });
    }
    const token = text.trim();
    if (!token) throw new CoreflowError('COREFLOW_ERR_DNS_TOKEN_FILE', { path, details: 'the file is empty' });
    return token;
  };
}

/** The dns step's options from the validated config. */
export function dnsStepOptions(config: DnsConfig): DnsStepOptions {
  return { token: cloudflareTokenSource(config), ...(config.cloudflareApiUrl ? { baseURL: config.cloudflareApiUrl } : {}) };
}
