import type { RouteEntry } from './types.ts';

/** The route table in Traefik's dynamic configuration format (for providers.http). */
export interface TraefikDynamicConfig {
  http: {
    routers: Record<string, { rule: string; service: string; tls?: Record<string, never> }>;
    services: Record<string, { loadBalancer: { servers: { url: string }[] } }>;
  };
  tls?: { certificates: { certFile: string; keyFile: string }[] };
}

/** A router/service name Traefik accepts: letters, digits and "-" ("@" is Traefik's provider separator). */
export function traefikName(hostName: string): string {
  return `coreflow-${hostName.replace(/^\*\./, 'wildcard.').replace(/[^a-zA-Z0-9-]/g, '-')}`;
}

/**
 * Pure. One service per hostname with a server per task address, a plain router for each
 * hostname and, for a hostname with a certificate, a second router with `tls: {}`. Certificates
 * (PEM content in certFile/keyFile, which Traefik accepts in place of paths) only with
 * `includeCertificates`.
 */
export function traefikConfig(routes: readonly RouteEntry[], opts: { includeCertificates: boolean }): TraefikDynamicConfig {
  const routers: TraefikDynamicConfig['http']['routers'] = {};
  const services: TraefikDynamicConfig['http']['services'] = {};
  const certs = new Map<string, { certFile: string; keyFile: string }>();
  for (const r of routes) {
    const name = traefikName(r.hostName);
    const rule = r.hostName.startsWith('*.') ? `HostRegexp(\`^[^.]+${r.hostName.slice(1).replace(/\./g, '\\.')}$\`)` : `Host(\`${r.hostName}\`)`;
    services[name] = {
      loadBalancer: { servers: r.destinationIps.flatMap((ip) => r.destinationPorts.map((p) => ({ url: `http://${ip}:${p}` }))) },
    };
    routers[name] = { rule, service: name };
    if (r.publicKey !== '' && r.privateKey !== '') {
      routers[`${name}-tls`] = { rule, service: name, tls: {} };
      if (opts.includeCertificates) certs.set(r.publicKey, { certFile: r.publicKey, keyFile: r.privateKey });
    }
  }
  return { http: { routers, services }, ...(certs.size > 0 ? { tls: { certificates: [...certs.values()] } } : {}) };
}
