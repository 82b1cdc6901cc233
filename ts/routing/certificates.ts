import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { ClusterSpec } from '../spec/types.ts';
import type { CertificateEntry, RouteProblem } from './types.ts';

/**
 * Where certificates the spec does not carry come from: the control plane's
 * getCertificateForDomain (wired by the control-plane link), or anything else that can answer.
 * Resolves to undefined when it has no certificate for the domain; throws when it cannot answer.
 */
export interface CertificateProvider {
  getCertificateForDomain(domain: string): Promise<{ publicKey: string; privateKey: string } | undefined>;
}

export interface CertificateStoreOptions {
  log: Logger;
  /** A provider certificate is fetched again this long before it expires. */
  refreshBeforeMs?: number;
  /** A domain the provider had no certificate for (or failed on) is asked again after this long. */
  retryMissingMs?: number;
  /** How long a table build waits for a provider answer about a domain it never asked about. */
  firstFetchTimeoutMs?: number;
  /** Called when a background refresh brought a new certificate: rebuild the table. */
  onUpdate?: () => void;
  now?: () => number;
}

/**
 * Checks a PEM pair and reads its expiry. Throws with a message that names the problem but never
 * contains the key.
 */
export function parseCertificate(domain: string, publicKey: string, privateKey: string, source: string): CertificateEntry {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(publicKey);
  } catch {
    throw new CoreflowError('COREFLOW_ERR_CERTIFICATE_INVALID', { domain, details: 'not a valid PEM certificate' });
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(privateKey));
  } catch {
    throw new CoreflowError('COREFLOW_ERR_CERTIFICATE_INVALID', { domain, details: 'the private key is not a valid PEM private key' });
  }
  if (!matches) throw new CoreflowError('COREFLOW_ERR_CERTIFICATE_INVALID', { domain, details: 'the private key does not belong to the certificate' });
  return { domain: domain.toLowerCase(), publicKey, privateKey, notAfter: Date.parse(cert.validTo), source };
}

interface ProviderSlot {
  entry?: CertificateEntry;
  /** When to ask the provider again. */
  nextFetchAt: number;
  inflight?: Promise<void>;
}

/**
 * Resolves the certificates of a route table: the spec's (files read at each build, so a renewed
 * file is picked up; inline PEM as given), then the provider's for the remaining hostnames, cached
 * and refreshed `refreshBeforeMs` before expiry in the background. Expired certificates are
 * dropped with a problem. Nothing here logs key material.
 */
export class CertificateStore {
  private readonly slots = new Map<string, ProviderSlot>();
  private readonly refreshBeforeMs: number;
  private readonly retryMissingMs: number;
  private readonly firstFetchTimeoutMs: number;
  private readonly now: () => number;

  constructor(
    /** May be set later (the control-plane link connects after the routing part starts). */
    public provider: CertificateProvider | undefined,
    private readonly opts: CertificateStoreOptions,
  ) {
    this.refreshBeforeMs = opts.refreshBeforeMs ?? 7 * 24 * 3600_000;
    this.retryMissingMs = opts.retryMissingMs ?? 5 * 60_000;
    this.firstFetchTimeoutMs = opts.firstFetchTimeoutMs ?? 3000;
    this.now = opts.now ?? Date.now;
  }

  async resolve(spec: ClusterSpec, hostNames: readonly string[]): Promise<{ certificates: Map<string, CertificateEntry>; problems: RouteProblem[] }> {
    const certificates = new Map<string, CertificateEntry>();
    const problems: RouteProblem[] = [];
    const now = this.now();
    const usable = (e: CertificateEntry, where: string): boolean => {
      if (e.notAfter > now) return true;
      problems.push({ service: 'routing.certificates', hostName: e.domain, reason: `the ${where} certificate expired on ${new Date(e.notAfter).toISOString()}; not used` });
      return false;
    };
    for (const [i, c] of spec.routing.certificates.entries()) {
      try {
        const pub = c.cert ?? (await readFile(c.certFile!, 'utf8'));
        const key = c.key ?? (await readFile(c.keyFile!, 'utf8'));
        const entry = parseCertificate(c.domain, pub, key, 'spec');
        if (usable(entry, `routing.certificates[${i}]`)) certificates.set(entry.domain, entry);
      } catch (err) {
        // readFile errors name the path, parseCertificate's never carry key material.
        problems.push({ service: 'routing.certificates', hostName: c.domain, reason: `routing.certificates[${i}]: ${errorText(err)}` });
      }
    }
    if (this.provider && spec.routing.certificateProvider) {
      const covered = (h: string) => certificates.has(h) || certificates.has(`*${h.slice(h.indexOf('.'))}`);
      const missing = [...new Set(hostNames.map((h) => h.toLowerCase()))].filter((h) => !covered(h));
      const firstTime = missing.filter((h) => !this.slots.has(h)).map((h) => this.fetch(h));
      if (firstTime.length > 0) await Promise.race([Promise.all(firstTime), new Promise((r) => setTimeout(r, this.firstFetchTimeoutMs).unref())]);
      for (const h of missing) {
        const slot = this.slots.get(h);
        if (!slot) continue;
        const due = slot.entry ? slot.entry.notAfter - this.refreshBeforeMs <= now : slot.nextFetchAt <= now;
        if (due && !slot.inflight) void this.fetch(h).then((changed) => changed && this.opts.onUpdate?.());
        if (slot.entry && usable(slot.entry, 'provider')) certificates.set(h, slot.entry);
      }
    }
    return { certificates, problems };
  }

  /** Asks the provider once; resolves true when the certificate changed. Failures keep the old one. */
  private fetch(domain: string): Promise<boolean> {
    const slot = this.slots.get(domain) ?? { nextFetchAt: 0 };
    this.slots.set(domain, slot);
    const before = slot.entry?.publicKey;
    const run = (async () => {
      try {
        const got = await this.provider!.getCertificateForDomain(domain);
        if (got) {
          slot.entry = parseCertificate(domain, got.publicKey, got.privateKey, 'provider');
          this.opts.log.info({ domain, notAfter: new Date(slot.entry.notAfter).toISOString() }, 'certificate from the provider');
        }
        slot.nextFetchAt = this.now() + this.retryMissingMs;
      } catch (err) {
        slot.nextFetchAt = this.now() + this.retryMissingMs;
        this.opts.log.warn({ domain, err: errorText(err) }, 'certificate provider failed; keeping the cached certificate, if any');
      }
    })();
    slot.inflight = run.then(() => void (slot.inflight = undefined));
    return slot.inflight.then(() => slot.entry?.publicKey !== before);
  }
}
