import { z } from 'zod';

/**
 * Traefik's dynamic configuration, the parts coreflow writes, as documented at
 * https://doc.traefik.io/traefik/reference/dynamic-configuration/file/ (http.routers.<name>:
 * rule, service, entryPoints?, tls?; http.services.<name>.loadBalancer.servers[].url;
 * tls.certificates[]: certFile, keyFile, stores?). Strict: an unknown key is an error.
 */
export const traefikSchema = z.strictObject({
  http: z.strictObject({
    routers: z.record(
      z.string().regex(/^[A-Za-z0-9-]+$/),
      z.strictObject({
        rule: z.string().regex(/^(Host|HostRegexp)\(`[^`]+`\)$/),
        service: z.string(),
        entryPoints: z.array(z.string()).optional(),
        tls: z.strictObject({ options: z.string().optional(), certResolver: z.string().optional() }).optional(),
      }),
    ),
    services: z.record(
      z.string(),
      z.strictObject({ loadBalancer: z.strictObject({ servers: z.array(z.strictObject({ url: z.url() })).min(1) }) }),
    ),
  }),
  tls: z.strictObject({ certificates: z.array(z.strictObject({ certFile: z.string(), keyFile: z.string(), stores: z.array(z.string()).optional() })) }).optional(),
});
