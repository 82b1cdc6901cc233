import { matchesAny, normalName, zoneOf } from './dns-names.ts';
import { routedHostsFromSpec } from './routed-hosts.ts';
import type { ClusterSpec } from './types.ts';

/**
 * Rules of the `dns` section that span the document, one line per problem with its path
 * (`services[0].domains[1].name: ...`). Called from the spec's cross checks; none without a
 * `dns` section.
 */
export function dnsSpecErrors(spec: ClusterSpec): string[] {
  const dns = spec.dns;
  if (!dns) return [];
  const errors: string[] = [];
  const zones = dns.zones.map((z) => z.name);
  const zoneList = zones.join(', ');
  const published = routedHostsFromSpec(spec).filter((h) => !matchesAny(h.name, dns.exclude));
  for (const h of published) {
    if (!zoneOf(h.name, zones)) {
      errors.push(`${h.source}: "${h.name}" is not in any zone of dns.zones (${zoneList}); add its zone to dns.zones or list it in dns.exclude`);
    }
  }
  dns.dns_records.forEach((r, i) => {
    if (!zoneOf(r.name, zones)) errors.push(`dns.dns_records[${i}].name: "${r.name}" is not in any zone of dns.zones (${zoneList})`);
  });
  const explicitNames = new Set(dns.dns_records.map((r) => normalName(r.name)));
  const needTargets = published.filter((h) => !explicitNames.has(normalName(h.name)));
  const t = dns.targets;
  if (needTargets.length > 0 && !t.cname && t.ipv4.length === 0 && t.ipv6.length === 0) {
    errors.push(`dns.targets: set ipv4/ipv6 addresses or a cname to publish the routed domains (${needTargets.map((h) => h.name).join(', ')})`);
  }
  dns.dns_records.forEach((r, i) => {
    const name = normalName(r.name);
    const first = dns.dns_records.findIndex((o) => o.type === r.type && normalName(o.name) === name && o.content === r.content);
    if (first !== i) errors.push(`dns.dns_records[${i}]: duplicate of dns.dns_records[${first}]`);
    const others = dns.dns_records.filter((o, j) => j !== i && normalName(o.name) === name);
    if (r.type === 'CNAME' && others.length > 0) errors.push(`dns.dns_records[${i}]: a CNAME record cannot share its name ${name} with other records`);
    const routed = published.find((h) => normalName(h.name) === name);
    if (routed && t.cname && r.type !== 'CNAME' && !dns.dns_records.some((o) => normalName(o.name) === name && ['A', 'AAAA', 'CNAME'].includes(o.type))) {
      errors.push(`dns.dns_records[${i}]: ${name} is also a routed domain (${routed.source}) published as a CNAME, which cannot share its name with other records`);
    }
  });
  return errors;
}
