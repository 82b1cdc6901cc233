import t from 'tap';
import { caddyConfig } from '../../ts/routing/caddy-config.ts';
import { traefikConfig } from '../../ts/routing/traefik-config.ts';
import type { RouteEntry } from '../../ts/routing/types.ts';
import { traefikSchema } from '../helpers/traefik-schema.ts';

const routes: RouteEntry[] = [
  { hostName: 'app.example.test', destinationIps: ['10.0.0.2', '10.0.0.3'], destinationPorts: [8080], privateKey: 'KEY', publicKey: 'CERT' },
  { hostName: 'plain.example.test', destinationIps: ['10.0.0.4'], destinationPorts: [80], privateKey: '', publicKey: '' },
  { hostName: '*.wild.example.test', destinationIps: ['10.0.0.5'], destinationPorts: [80], privateKey: 'KEY', publicKey: 'CERT' },
];

t.test('Traefik: valid dynamic config, every router points at a service, one server per task', async (t) => {
  const cfg = traefikConfig(routes, { includeCertificates: false });
  const parsed = traefikSchema.safeParse(cfg);
  t.ok(parsed.success, parsed.success ? 'valid' : JSON.stringify(parsed.error.issues));
  for (const r of Object.values(cfg.http.routers)) t.ok(cfg.http.services[r.service], `service ${r.service} exists`);
  t.same(cfg.http.services['coreflow-app-example-test']?.loadBalancer.servers, [{ url: 'http://10.0.0.2:8080' }, { url: 'http://10.0.0.3:8080' }]);
  t.same(cfg.http.routers['coreflow-app-example-test'], { rule: 'Host(`app.example.test`)', service: 'coreflow-app-example-test' });
  t.same(cfg.http.routers['coreflow-app-example-test-tls']?.tls, {});
  t.notOk(cfg.http.routers['coreflow-plain-example-test-tls'], 'no TLS router without a certificate');
  t.equal(cfg.http.routers['coreflow-wildcard-wild-example-test']?.rule, 'HostRegexp(`^[^.]+\\.wild\\.example\\.test$`)');
  t.notOk(cfg.tls, 'no keys unless asked for');
  const withCerts = traefikConfig(routes, { includeCertificates: true });
  t.ok(traefikSchema.safeParse(withCerts).success);
  t.same(withCerts.tls?.certificates, [{ certFile: 'CERT', keyFile: 'KEY' }], 'one certificate loaded once');
});

t.test('Caddy: one route per host to every upstream; TLS server only for hosts with certificates', async (t) => {
  const cfg = caddyConfig(routes, { httpListen: ':80', httpsListen: ':443', admin: { listen: '0.0.0.0:2019' }, marker: 'coreflow-abc' }) as any;
  t.same(cfg.admin, { listen: '0.0.0.0:2019' }, 'the admin block is kept');
  const http = cfg.apps.http.servers['coreflow-http'];
  t.same(http.listen, [':80']);
  t.equal(http['@id'], 'coreflow-abc', 'the table is marked, so the agent can see whether Caddy still runs it');
  t.same(http.routes[0], { match: [{ host: ['app.example.test'] }], handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: '10.0.0.2:8080' }, { dial: '10.0.0.3:8080' }] }], terminal: true });
  t.equal(http.routes.length, 3);
  const https = cfg.apps.http.servers['coreflow-https'];
  t.same(https.routes.map((r: any) => r.match[0].host[0]), ['app.example.test', '*.wild.example.test']);
  t.same(https.tls_connection_policies, [{}]);
  t.same(cfg.apps.tls.certificates.load_pem, [{ certificate: 'CERT', key: 'KEY', tags: ['coreflow'] }]);
  const plain = caddyConfig([routes[1]!], { httpListen: ':80', httpsListen: ':443' }) as any;
  t.notOk(plain.apps.http.servers['coreflow-https']);
  t.notOk(plain.apps.tls);
  t.notOk('admin' in plain);
});
