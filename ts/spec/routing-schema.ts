import { z } from 'zod';
import { hostname } from './primitives.ts';

/**
 * One certificate for one hostname (or a `*.example.com` wildcard): PEM files on the agent's
 * host, or the PEM text inline. Exactly one of the two forms. The private key is secret: it only
 * goes to the sinks (edge proxies, Caddy) and never into logs, results or errors.
 */
const certificate = z
  .strictObject({
    domain: hostname,
    certFile: z.string().startsWith('/', { error: 'expected an absolute path to a PEM certificate' }).optional(),
    keyFile: z.string().startsWith('/', { error: 'expected an absolute path to a PEM private key' }).optional(),
    cert: z.string().includes('-----BEGIN', { error: 'expected a PEM certificate' }).optional(),
    key: z.string().includes('-----BEGIN', { error: 'expected a PEM private key' }).optional(),
  })
  .refine((c) => (c.certFile !== undefined && c.keyFile !== undefined) !== (c.cert !== undefined && c.key !== undefined), {
    error: 'expected either certFile and keyFile, or cert and key (inline PEM)',
  });

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://caddy:2019' });
const listen = z.string().regex(/^[^\s]*:\d{1,5}$/, { error: 'expected a listen address such as ":80" or "0.0.0.0:443"' });

/**
 * The `routing` section: where the route table goes and how hostnames without a certificate
 * are treated. docs/routing.md documents it. The edge token is NOT here (it would end up in the
 * desired-state document): it is the setting COREFLOW_EDGE_TOKEN.
 */
export const routingSchema = z
  .strictObject({
    /** Off: no route table is built and every sink is left alone. */
    enabled: z.boolean().default(true),
    /**
     * What happens to a hostname with no certificate: `http` routes it over plain HTTP only
     * (the edge gets empty key strings), `omit` leaves it out of the table. Either way it is
     * reported as a problem.
     */
    withoutCertificate: z.enum(['http', 'omit'], { error: 'expected "http" or "omit"' }).default('http'),
    certificates: z.array(certificate).default([]),
    /** Ask the certificate provider (the control plane's getCertificateForDomain) for hostnames the spec has no certificate for. */
    certificateProvider: z.boolean().default(true),
    /** Safety net: the table is rebuilt at this interval even without Docker events. */
    resyncSeconds: z.number().int().min(1, { error: 'expected at least 1 second' }).default(30),
    edge: z
      .strictObject({
        /** Edge proxies connect to ws://agent:3000/v1/edge with the token COREFLOW_EDGE_TOKEN. */
        enabled: z.boolean().default(true),
      })
      .prefault({}),
    caddy: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** Caddy's admin API. */
        adminUrl: httpUrl.default('http://127.0.0.1:2019'),
        /** Where Caddy serves plain HTTP and HTTPS. */
        httpListen: listen.default(':80'),
        httpsListen: listen.default(':443'),
      })
      .prefault({}),
    traefik: z
      .strictObject({
        /** Serves GET /v1/traefik on the internal server for Traefik's HTTP provider. */
        enabled: z.boolean().default(false),
        /**
         * Put certificates (with private keys) into the served configuration. Then the endpoint
         * requires `Authorization: Bearer <COREFLOW_EDGE_TOKEN>` (Traefik: providers.http.headers).
         */
        includeCertificates: z.boolean().default(false),
      })
      .prefault({}),
  })
  .prefault({});
