import { hashOf } from '../spec/hash.ts';
import { isDeployed } from '../spec/service-category.ts';
import type { ClusterSpec, ServiceSpec } from '../spec/types.ts';
import type { CertificateEntry, RouteEntry, RouteProblem, RouteTable, RoutingNetwork, RoutingService, RoutingTask } from './types.ts';

/** One hostname a service asks to be routed, before live data is looked at. */
export interface WantedHost {
  hostName: string;
  port: number;
  /** Whether the hostname wants TLS (domain protocol https, and every ports.custom hostname). */
  tls: boolean;
}

/** The services the route table covers: workload records with at least one domain or custom hostname. */
export function routedServices(spec: ClusterSpec): ServiceSpec[] {
  return spec.services.filter(
    (s) => isDeployed(s) && (s.domains.length > 0 || Object.keys(s.ports.custom).length > 0),
  );
}

/**
 * Pure. The hostnames of one service with their destination port: a domain's own port, else
 * `ports.web`; every `ports.custom` entry maps an extra hostname to a port. Any incomplete or
 * contradictory entry fails the whole service (`problems`), so a service is routed completely or
 * not at all.
 */
export function wantedHosts(s: ServiceSpec): { hosts: WantedHost[]; problems: string[] } {
  const problems: string[] = [];
  const byName = new Map<string, WantedHost>();
  const add = (h: WantedHost) => {
    const key = h.hostName.toLowerCase();
    const seen = byName.get(key);
    if (seen && seen.port !== h.port) problems.push(`hostname ${h.hostName} is given ports ${seen.port} and ${h.port}`);
    else if (!seen) byName.set(key, { ...h, hostName: key });
  };
  for (const d of s.domains) {
    const port = d.port ?? s.ports.web;
    if (port === undefined) problems.push(`domain ${d.name} has no port and ports.web is not set`);
    else add({ hostName: d.name, port, tls: d.protocol === 'https' });
  }
  for (const [hostName, port] of Object.entries(s.ports.custom)) add({ hostName, port, tls: true });
  return { hosts: [...byName.values()], problems };
}

/** The certificate for a hostname: an exact match first, then a one-label wildcard. */
export function findCertificate(certificates: ReadonlyMap<string, CertificateEntry>, hostName: string): CertificateEntry | undefined {
  const host = hostName.toLowerCase();
  const exact = certificates.get(host);
  if (exact) return exact;
  const dot = host.indexOf('.');
  return dot > 0 ? certificates.get(`*${host.slice(dot)}`) : undefined;
}

function compareIps(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface RouteTableInput {
  spec: ClusterSpec;
  /** The cluster's live workload services. */
  services: readonly RoutingService[];
  tasks: readonly RoutingTask[];
  networks: readonly RoutingNetwork[];
  /** Resolved certificates by domain (lower case, wildcards as `*.example.com`). */
  certificates: ReadonlyMap<string, CertificateEntry>;
}

/**
 * Whether a task takes traffic. It must be wanted running (a task being stopped leaves the table
 * at once). A container with a health check, seen on this node, takes traffic only while healthy:
 * from its first passing check (even before the swarm reports the task running) until a check
 * fails. Any other task takes traffic once the swarm reports it running, which for a service with
 * a health check is after its first passing check.
 */
function takesTraffic(t: RoutingTask): boolean {
  if (t.desiredState !== 'running') return false;
  if (t.health !== undefined) return t.health === 'healthy' && (t.state === 'running' || t.state === 'starting');
  return t.state === 'running';
}

/**
 * Pure. The route table of a cluster: for each routed service, every hostname to the
 * gateway-network IPs of ALL its tasks that take traffic (takesTraffic). Problems are per service or hostname and never stop the
 * others. The result is sorted, so equal inputs give an equal table (and hash).
 */
export function buildRouteTable(input: RouteTableInput): RouteTable {
  const { spec } = input;
  const routes: RouteEntry[] = [];
  const problems: RouteProblem[] = [];
  const gateway = input.networks.find((n) => n.name === spec.networks.gateway.name);
  const liveByName = new Map(input.services.map((s) => [s.name, s]));
  const claimed = new Map<string, string>();

  for (const s of routedServices(spec)) {
    const { hosts, problems: bad } = wantedHosts(s);
    if (bad.length > 0) {
      problems.push({ service: s.name, reason: `not routed: ${bad.join('; ')}` });
      continue;
    }
    const live = liveByName.get(s.name);
    if (!live) {
      problems.push({ service: s.name, reason: 'not routed: the service is not deployed' });
      continue;
    }
    if (!gateway) {
      problems.push({ service: s.name, reason: `not routed: the gateway network ${spec.networks.gateway.name} does not exist` });
      continue;
    }
    const ips = new Set<string>();
    for (const t of input.tasks) {
      if (t.serviceId !== live.id || !takesTraffic(t)) continue;
      const ip = t.addresses[gateway.id];
      if (ip) ips.add(ip);
    }
    if (ips.size === 0) {
      problems.push({ service: s.name, reason: `not routed: no running task on the gateway network ${gateway.name}` });
      continue;
    }
    const destinationIps = [...ips].sort(compareIps);
    for (const h of hosts) {
      const owner = claimed.get(h.hostName);
      if (owner !== undefined) {
        problems.push({ service: s.name, hostName: h.hostName, reason: `not routed: hostname already routed to service ${owner}` });
        continue;
      }
      claimed.set(h.hostName, s.name);
      let privateKey = '';
      let publicKey = '';
      if (h.tls) {
        const cert = findCertificate(input.certificates, h.hostName);
        if (cert) {
          privateKey = cert.privateKey;
          publicKey = cert.publicKey;
        } else if (spec.routing.withoutCertificate === 'omit') {
          problems.push({ service: s.name, hostName: h.hostName, reason: 'not routed: no certificate (routing.withoutCertificate: omit)' });
          continue;
        } else {
          problems.push({ service: s.name, hostName: h.hostName, reason: 'no certificate: routed over plain HTTP only' });
        }
      }
      routes.push({ hostName: h.hostName, destinationIps, destinationPorts: [h.port], privateKey, publicKey });
    }
  }
  routes.sort((a, b) => (a.hostName < b.hostName ? -1 : a.hostName > b.hostName ? 1 : 0));
  return { routes, problems };
}

/** A stable hash of the routes (not the problems): equal hash, nothing to push. */
export function routeTableHash(table: RouteTable): string {
  return hashOf(table.routes, 32);
}
