import type { CoreflowConfig } from '../config/config.ts';
import { secretSource } from '../config/secret-settings.ts';
import type { DnsStepOptions } from './step.ts';

type DnsConfig = Pick<CoreflowConfig, 'cloudflareApiUrl'> & Partial<Pick<CoreflowConfig, 'cloudflareToken' | 'cloudflareTokenFile'>>;

/**
 * The token source of the dns step: the token given directly (--cloudflare-token or
 * CLOUDFLARE_API_TOKEN) or its file (--cloudflare-token-file or CLOUDFLARE_API_TOKEN_FILE), read
 * at every run so a rotated token is picked up without a restart. An unreadable file fails the
 * dns step only (COREFLOW_ERR_SECRET_FILE), naming the path, never the content.
 */
export function cloudflareTokenSource(config: Partial<DnsConfig>): () => Promise<string | undefined> {
  return secretSource(config, 'cloudflareToken');
}

/** The dns step's options from the validated config. */
export function dnsStepOptions(config: DnsConfig): DnsStepOptions {
  return { token: cloudflareTokenSource(config), ...(config.cloudflareApiUrl ? { baseURL: config.cloudflareApiUrl } : {}) };
}
