import { z } from 'zod';
import { hostname } from './primitives.ts';

/**
 * The `dns` section: DNS records kept in step with the routed domains. Absent: coreflow makes no
 * DNS calls at all (and leaves records it made earlier as they are). docs/spec.md documents it.
 * Rules that span sections (every published domain inside a listed zone, no clashes with the
 * routed domains) live in dns-checks.ts.
 */

export const DNS_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'TXT', 'MX'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];

/** Types Cloudflare can proxy. */
export const PROXIABLE_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'CNAME'];

/** 1 means "automatic" at Cloudflare; otherwise 30 (enterprise) or 60 to 86400 seconds. */
export const dnsTtl = z
  .number({ error: 'expected a TTL in seconds' })
  .int({ error: 'expected a TTL in whole seconds' })
  .refine((v) => v === 1 || (v >= 30 && v <= 86400), { error: 'expected 1 (automatic) or 30 to 86400 seconds' });

const zoneName = hostname.refine((v) => !v.startsWith('*.'), { error: 'expected a zone name such as example.com (no wildcard)' });

/** A zone: its name, and its Cloudflare zone ID when known (looked up by name otherwise). */
const zone = z.preprocess(
  (v) => (typeof v === 'string' ? { name: v } : v),
  z.strictObject({
    name: zoneName.transform((v) => v.toLowerCase()),
    id: z.string().regex(/^[0-9a-f]{32}$/, { error: 'expected a Cloudflare zone ID (32 hex characters)' }).optional(),
  }),
);

const targets = z
  .strictObject({
    /** Every published domain gets one A record per address. */
    ipv4: z.array(z.ipv4({ error: 'expected an IPv4 address such as 203.0.113.10' })).default([]),
    /** Every published domain gets one AAAA record per address. */
    ipv6: z.array(z.ipv6({ error: 'expected an IPv6 address such as 2001:db8::10' })).default([]),
    /** Or: every published domain is a CNAME to this name (a load balancer, another zone). */
    cname: hostname.optional(),
  })
  .prefault({})
  .superRefine((t, ctx) => {
    if (t.cname !== undefined && (t.ipv4.length > 0 || t.ipv6.length > 0)) {
      ctx.addIssue({ code: 'custom', path: ['cname'], message: 'a cname target excludes ipv4/ipv6 targets (a CNAME cannot share its name with other records)' });
    }
    const dup = (list: string[], key: string) =>
      list.forEach((v, i) => {
        if (list.indexOf(v) !== i) ctx.addIssue({ code: 'custom', path: [key, i], message: `duplicate address ${v}` });
      });
    dup(t.ipv4, 'ipv4');
    dup(t.ipv6, 'ipv6');
  });

const txtOrName = z.string({ error: 'expected the record content' }).min(1, { error: 'expected the record content' });

/** An explicit record, published as written (inside one of the zones). */
const dnsRecord = z
  .strictObject({
    type: z.enum(DNS_RECORD_TYPES, { error: `expected one of ${DNS_RECORD_TYPES.join(', ')}` }),
    name: hostname,
    content: txtOrName,
    /** Defaults to dns.ttl. */
    ttl: dnsTtl.optional(),
    /** A, AAAA and CNAME only; defaults to dns.proxied. */
    proxied: z.boolean().optional(),
    /** MX only (required there). */
    priority: z.number().int().min(0).max(65535, { error: 'expected a priority 0-65535' }).optional(),
  })
  .superRefine((r, ctx) => {
    const bad = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (r.type === 'A' && !z.ipv4().safeParse(r.content).success) bad('content', 'expected an IPv4 address for an A record');
    if (r.type === 'AAAA' && !z.ipv6().safeParse(r.content).success) bad('content', 'expected an IPv6 address for an AAAA record');
    if ((r.type === 'CNAME' || r.type === 'MX') && !hostname.safeParse(r.content).success) bad('content', `expected a hostname for a ${r.type} record`);
    if (r.type === 'TXT' && r.content.length > 2048) bad('content', 'expected at most 2048 characters');
    if (r.proxied !== undefined && !PROXIABLE_TYPES.includes(r.type)) bad('proxied', `${r.type} records cannot be proxied`);
    if (r.type === 'MX' && r.priority === undefined) bad('priority', 'required for an MX record');
    if (r.type !== 'MX' && r.priority !== undefined) bad('priority', 'only MX records have a priority');
  });

export const dnsSchema = z
  .strictObject({
    provider: z.literal('cloudflare', { error: 'expected "cloudflare" (the only provider so far)' }),
    /** The zones coreflow may touch; records outside them are never read or written. */
    zones: z.array(zone).min(1, { error: 'list at least one zone' }),
    targets,
    /** Proxy the published domains through Cloudflare (orange cloud). Proxied records have TTL 1. */
    proxied: z.boolean().default(false),
    ttl: dnsTtl.default(1),
    /** Routed domains not to publish: exact names, or `*.example.org` for every name under it. */
    exclude: z.array(hostname).default([]),
    dns_records: z.array(dnsRecord).default([]),
  })
  .superRefine((d, ctx) => {
    d.zones.forEach((z1, i) => {
      if (d.zones.findIndex((z2) => z2.name === z1.name) !== i) ctx.addIssue({ code: 'custom', path: ['zones', i, 'name'], message: `duplicate zone ${z1.name}` });
    });
  })
  .optional();

export type DnsSpec = NonNullable<z.output<typeof dnsSchema>>;
export type DnsRecordSpec = DnsSpec['dns_records'][number];
