import t from 'tap';
import { isCoreflowError } from '../../ts/errors.ts';
import { specErrors, validateSpec } from '../../ts/spec/parse.ts';

/** The `dns` section: defaults, and every problem named by its path. */

function doc(dns: unknown, services: unknown[] = [{ name: 'web', image: 'x', ports: { web: 80, custom: { 'admin.example.com': 81 } }, domains: [{ name: 'www.example.com' }] }]) {
  return { apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, services, ...(dns === undefined ? {} : { dns }) };
}

function errorsOf(d: unknown): string[] {
  try {
    validateSpec(d);
    return [];
  } catch (err) {
    if (isCoreflowError(err, 'COREFLOW_ERR_SPEC_INVALID')) return specErrors(err);
    throw err;
  }
}

const OK = { provider: 'cloudflare', zones: ['example.com'], targets: { ipv4: ['203.0.113.10'] } };

t.test('a minimal section gets its defaults; zones may be names or {name, id}', async (t) => {
  const { spec } = validateSpec(doc({ ...OK, zones: ['Example.com', { name: 'example.net', id: '0123456789abcdef0123456789abcdef' }] }));
  t.same(spec.dns, {
    provider: 'cloudflare',
    zones: [{ name: 'example.com' }, { name: 'example.net', id: '0123456789abcdef0123456789abcdef' }],
    targets: { ipv4: ['203.0.113.10'], ipv6: [] },
    proxied: false,
    ttl: 1,
    exclude: [],
    dns_records: [],
  });
  t.equal(validateSpec(doc(undefined)).spec.dns, undefined, 'the section is optional');
});

t.test('field problems are named by path', async (t) => {
  t.same(errorsOf(doc({ ...OK, provider: 'route53' })), ['dns.provider: expected "cloudflare" (the only provider so far)']);
  t.same(errorsOf(doc({ ...OK, zones: [] })), ['dns.zones: list at least one zone']);
  t.same(errorsOf(doc({ ...OK, zones: [{ name: 'example.com', id: 'nope' }] })), ['dns.zones[0].id: expected a Cloudflare zone ID (32 hex characters)']);
  t.same(errorsOf(doc({ ...OK, zones: ['example.com', 'example.com'] })), ['dns.zones[1].name: duplicate zone example.com']);
  t.same(errorsOf(doc({ ...OK, targets: { ipv4: ['300.1.1.1'] } })), ['dns.targets.ipv4[0]: expected an IPv4 address such as 203.0.113.10']);
  t.same(errorsOf(doc({ ...OK, targets: { ipv6: ['nope'] } })), ['dns.targets.ipv6[0]: expected an IPv6 address such as 2001:db8::10']);
  t.same(errorsOf(doc({ ...OK, targets: { ipv4: ['203.0.113.10'], cname: 'lb.example.net' } })), [
    'dns.targets.cname: a cname target excludes ipv4/ipv6 targets (a CNAME cannot share its name with other records)',
  ]);
  t.same(errorsOf(doc({ ...OK, ttl: 5 })), ['dns.ttl: expected 1 (automatic) or 30 to 86400 seconds']);
  t.same(errorsOf(doc({ ...OK, color: 'orange' })), ['dns.color: unknown key']);
});

t.test('explicit records are checked by type', async (t) => {
  const rec = (r: Record<string, unknown>) => errorsOf(doc({ ...OK, dns_records: [{ name: 'x.example.com', ...r }] }));
  t.same(rec({ type: 'A', content: 'lb.example.net' }), ['dns.dns_records[0].content: expected an IPv4 address for an A record']);
  t.same(rec({ type: 'AAAA', content: '203.0.113.1' }), ['dns.dns_records[0].content: expected an IPv6 address for an AAAA record']);
  t.same(rec({ type: 'CNAME', content: 'not a name' }), ['dns.dns_records[0].content: expected a hostname for a CNAME record']);
  t.same(rec({ type: 'MX', content: 'mx.example.net' }), ['dns.dns_records[0].priority: required for an MX record']);
  t.same(rec({ type: 'TXT', content: 'hello', proxied: true }), ['dns.dns_records[0].proxied: TXT records cannot be proxied']);
  t.same(rec({ type: 'SRV', content: 'x' }), ['dns.dns_records[0].type: expected one of A, AAAA, CNAME, TXT, MX']);
  t.same(rec({ type: 'TXT', content: 'v=1', ttl: 300 }), []);
});

t.test('a published domain outside the listed zones is an error naming the field', async (t) => {
  const services = [{ name: 'web', image: 'x', ports: { web: 80, custom: { 'admin.example.org': 81 } }, domains: [{ name: 'www.example.com' }, { name: 'shop.example.org' }] }];
  t.same(errorsOf(doc(OK, services)), [
    'services[0].domains[1].name: "shop.example.org" is not in any zone of dns.zones (example.com); add its zone to dns.zones or list it in dns.exclude',
    'services[0].ports.custom.admin.example.org: "admin.example.org" is not in any zone of dns.zones (example.com); add its zone to dns.zones or list it in dns.exclude',
  ]);
  t.same(errorsOf(doc({ ...OK, exclude: ['*.example.org'] }, services)), [], 'excluded names need no zone');
  t.same(errorsOf(doc({ ...OK, dns_records: [{ type: 'TXT', name: 'example.org', content: 'x' }] })), [
    'dns.dns_records[0].name: "example.org" is not in any zone of dns.zones (example.com)',
  ]);
  const excluded = [{ name: 'web', image: 'x', serviceCategory: 'base', ports: { web: 80 }, domains: [{ name: 'shop.example.org' }] }];
  t.same(errorsOf(doc(OK, excluded)), [], 'services that are not deployed are not published');
});

t.test('routed domains need targets; clashing explicit records are refused', async (t) => {
  t.same(errorsOf(doc({ ...OK, targets: {} })), ['dns.targets: set ipv4/ipv6 addresses or a cname to publish the routed domains (www.example.com, admin.example.com)']);
  t.same(errorsOf(doc({ ...OK, targets: {} }, [])), [], 'no routed domains: no targets needed');
  t.same(
    errorsOf(doc({ ...OK, dns_records: [{ type: 'TXT', name: 'a.example.com', content: 'x' }, { type: 'TXT', name: 'A.example.com', content: 'x' }] })),
    ['dns.dns_records[1]: duplicate of dns.dns_records[0]'],
  );
  t.same(
    errorsOf(doc({ ...OK, dns_records: [{ type: 'CNAME', name: 'a.example.com', content: 'b.example.net' }, { type: 'TXT', name: 'a.example.com', content: 'x' }] })),
    ['dns.dns_records[0]: a CNAME record cannot share its name a.example.com with other records'],
  );
  t.same(
    errorsOf(doc({ ...OK, targets: { cname: 'lb.example.net' }, dns_records: [{ type: 'TXT', name: 'www.example.com', content: 'x' }] })),
    ['dns.dns_records[0]: www.example.com is also a routed domain (services[0].domains[0].name) published as a CNAME, which cannot share its name with other records'],
  );
});
