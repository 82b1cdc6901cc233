import { PROXIABLE_TYPES, type DnsSpec } from '../spec/dns-schema.ts';
import { matchesAny, normalName, zoneOf } from '../spec/dns-names.ts';
import type { RoutedHost } from '../spec/routed-hosts.ts';
import { normalContent, type DesiredRecord } from './records.ts';

/** A hostname that cannot be published, with why (reported, never fatal for the others). */
export interface DesiredProblem {
  name: string;
  reason: string;
}

export interface DesiredDns {
  records: DesiredRecord[];
  problems: DesiredProblem[];
}

/**
 * Pure. The records the `dns` section asks for: one A per ipv4 target and one AAAA per ipv6
 * target (or one CNAME) for every published hostname, plus the explicit `dns_records` as
 * written. Hostnames listed in `exclude`, or with an explicit address record of their own, are
 * not published; a hostname outside every zone is a problem (the spec check rejects it in a
 * spec file; a route table could still bring one).
 */
export function desiredDnsRecords(dns: DnsSpec, hosts: readonly RoutedHost[]): DesiredDns {
  const zones = dns.zones.map((z) => z.name);
  const records: DesiredRecord[] = [];
  const problems: DesiredProblem[] = [];
  const explicitAddress = new Set(dns.dns_records.filter((r) => PROXIABLE_TYPES.includes(r.type)).map((r) => normalName(r.name)));
  const seen = new Set<string>();
  for (const host of hosts) {
    const name = normalName(host.name);
    if (seen.has(name) || matchesAny(name, dns.exclude) || explicitAddress.has(name)) continue;
    seen.add(name);
    const zone = zoneOf(name, zones);
    if (!zone) {
      problems.push({ name, reason: `${name} (${host.source}) is not in any zone of dns.zones (${zones.join(', ')})` });
      continue;
    }
    const proxied = dns.proxied;
    const ttl = proxied ? 1 : dns.ttl;
    const base = { name, zone, ttl, proxied, source: 'domain' };
    if (dns.targets.cname) records.push({ ...base, type: 'CNAME', content: normalContent('CNAME', dns.targets.cname) });
    for (const ip of dns.targets.ipv4) records.push({ ...base, type: 'A', content: ip });
    for (const ip of dns.targets.ipv6) records.push({ ...base, type: 'AAAA', content: normalContent('AAAA', ip) });
    if (!dns.targets.cname && dns.targets.ipv4.length === 0 && dns.targets.ipv6.length === 0) {
      problems.push({ name, reason: `${name} (${host.source}) cannot be published: dns.targets has no ipv4, ipv6 or cname` });
    }
  }
  dns.dns_records.forEach((r, i) => {
    const name = normalName(r.name);
    const source = `dns.dns_records[${i}]`;
    const zone = zoneOf(name, zones);
    if (!zone) {
      problems.push({ name, reason: `${name} (${source}) is not in any zone of dns.zones (${zones.join(', ')})` });
      return;
    }
    const proxiable = PROXIABLE_TYPES.includes(r.type);
    const proxied = proxiable ? (r.proxied ?? dns.proxied) : undefined;
    records.push({
      type: r.type,
      name,
      content: normalContent(r.type, r.content),
      ttl: proxied ? 1 : (r.ttl ?? dns.ttl),
      ...(proxied !== undefined ? { proxied } : {}),
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      zone,
      source,
    });
  });
  return { records, problems };
}
