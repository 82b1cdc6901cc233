import type { DnsRecordType } from '../spec/dns-schema.ts';
import { normalName } from '../spec/dns-names.ts';

/** The fields of a DNS record as the provider stores it. */
export interface RecordFields {
  type: string;
  name: string;
  content: string;
  ttl: number;
  proxied?: boolean;
  priority?: number;
}

/** A record coreflow wants to exist, fully defaulted. */
export interface DesiredRecord extends RecordFields {
  type: DnsRecordType;
  /** Fully qualified, lower case, no trailing dot. */
  name: string;
  /** Set for A, AAAA and CNAME only. */
  proxied?: boolean;
  /** The zone (name) the record belongs in: the longest listed zone the name ends with. */
  zone: string;
  /** Where it comes from, for messages: `domain` or `dns.dns_records[2]`. */
  source: string;
}

/** The record body written on create and update (the provider API and the plan's payload). */
export interface RecordBody extends RecordFields {
  comment: string;
}

/** A record as listed from the provider. */
export interface LiveRecord extends RecordFields {
  id: string;
  zone: string;
  zoneId: string;
  comment?: string | null;
}

export const MANAGED_BY_TOKEN = 'managed-by=coreflow';

/**
 * The ownership mark written in the comment of every record coreflow creates (external-dns uses
 * TXT records for this; Cloudflare comments keep it on the record itself). 28 + cluster name
 * (at most 63) characters, inside the 100 characters every Cloudflare plan allows.
 */
export function ownerComment(cluster: string): string {
  return `${MANAGED_BY_TOKEN} cluster=${cluster}`;
}

export type Ownership = { owned: true } | { owned: false; by?: string };

/** Whose record this is, from its comment: ours, another coreflow cluster's, or someone else's. */
export function ownershipOf(record: Pick<LiveRecord, 'comment'>, cluster: string): Ownership {
  const tokens = (record.comment ?? '').split(/\s+/);
  if (!tokens.includes(MANAGED_BY_TOKEN)) return { owned: false };
  const other = tokens.find((t) => t.startsWith('cluster='))?.slice('cluster='.length);
  if (other === cluster) return { owned: true };
  return { owned: false, by: other ? `coreflow cluster ${other}` : 'coreflow (no cluster named)' };
}

/** IPv6 in its canonical compressed form (what Cloudflare returns), via the URL parser. */
function canonicalIpv6(v: string): string {
  try {
    return new URL(`http://[${v}]/`).hostname.slice(1, -1);
  } catch {
    return v.toLowerCase();
  }
}

/** Content in the form Cloudflare returns it, so equal records compare equal. */
export function normalContent(type: string, content: string): string {
  switch (type) {
    case 'AAAA':
      return canonicalIpv6(content);
    case 'CNAME':
    case 'MX':
      return normalName(content);
    case 'TXT':
      // Cloudflare may return TXT content wrapped in quotes.
      return content.length >= 2 && content.startsWith('"') && content.endsWith('"') ? content.slice(1, -1) : content;
    default:
      return content;
  }
}

/** A short human form of a record's value, for plan lines. */
export function describeValue(r: { type: string; content: string; ttl: number; proxied?: boolean; priority?: number }): string {
  const content = r.content.length > 60 ? `${r.content.slice(0, 57)}...` : r.content;
  const parts = [r.type === 'MX' ? `${r.priority ?? 0} ${content}` : content];
  if (r.proxied) parts.push('proxied');
  parts.push(r.ttl === 1 ? 'ttl auto' : `ttl ${r.ttl}`);
  return parts.join(', ');
}
