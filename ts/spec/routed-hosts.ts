import { isDeployed } from './service-category.ts';
import type { ClusterSpec } from './types.ts';

/** A routed hostname and where it was declared (a spec path, or the route table). */
export interface RoutedHost {
  name: string;
  source: string;
}

/**
 * The hostnames the spec routes: every deployed service's `domains[].name` and `ports.custom`
 * hostnames. Records that are not deployed (serviceCategory) are not published.
 */
export function routedHostsFromSpec(spec: ClusterSpec): RoutedHost[] {
  const out: RoutedHost[] = [];
  spec.services.forEach((s, i) => {
    if (!isDeployed(s)) return;
    s.domains.forEach((d, j) => out.push({ name: d.name, source: `services[${i}].domains[${j}].name` }));
    for (const host of Object.keys(s.ports.custom)) out.push({ name: host, source: `services[${i}].ports.custom.${host}` });
  });
  return out;
}
