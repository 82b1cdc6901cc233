import type { RouteEntry } from './types.ts';

export interface CaddyConfigOptions {
  httpListen: string;
  httpsListen: string;
  /** Caddy's current `admin` block, kept so loading a config never cuts the agent off the admin API. */
  admin?: unknown;
  /** Set as the HTTP server's `@id`, so `GET /id/<marker>` tells whether Caddy still runs this table. */
  marker?: string;
}

/** The `@id` marking the loaded table in Caddy. */
export function caddyMarker(hash: string): string {
  return `coreflow-${hash}`;
}

function upstreams(r: RouteEntry): { dial: string }[] {
  return r.destinationIps.flatMap((ip) => r.destinationPorts.map((p) => ({ dial: `${ip}:${p}` })));
}

function route(r: RouteEntry): Record<string, unknown> {
  return {
    match: [{ host: [r.hostName] }],
    handle: [{ handler: 'reverse_proxy', upstreams: upstreams(r) }],
    terminal: true,
  };
}

/**
 * Pure. Caddy's native JSON config for a route table: one server for plain HTTP with a route per
 * hostname, one for HTTPS with a route per hostname that has a certificate, and those
 * certificates loaded as PEM. Caddy's automatic HTTPS is off: certificates come from coreflow
 * only, Caddy never asks an ACME CA on its own.
 */
export function caddyConfig(routes: readonly RouteEntry[], opts: CaddyConfigOptions): Record<string, unknown> {
  const tls = routes.filter((r) => r.privateKey !== '' && r.publicKey !== '');
  const servers: Record<string, unknown> = {
    'coreflow-http': {
      ...(opts.marker ? { '@id': opts.marker } : {}),
      listen: [opts.httpListen],
      routes: routes.map(route),
      automatic_https: { disable: true },
    },
  };
  if (tls.length > 0) {
    servers['coreflow-https'] = {
      listen: [opts.httpsListen],
      routes: tls.map(route),
      // An empty policy: certificates are chosen by SNI from those loaded below.
      tls_connection_policies: [{}],
      automatic_https: { disable: true },
    };
  }
  // One certificate may cover several hostnames (a wildcard): load each once.
  const pems = new Map<string, { certificate: string; key: string; tags: string[] }>();
  for (const r of tls) pems.set(r.publicKey, { certificate: r.publicKey, key: r.privateKey, tags: ['coreflow'] });
  return {
    ...(opts.admin !== undefined && opts.admin !== null ? { admin: opts.admin } : {}),
    apps: {
      http: { servers },
      ...(pems.size > 0 ? { tls: { certificates: { load_pem: [...pems.values()] } } } : {}),
    },
  };
}
