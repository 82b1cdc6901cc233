import t from 'tap';
import { buildRouteTable, routeTableHash, wantedHosts } from '../../ts/routing/route-table.ts';
import type { CertificateEntry, RoutingTask } from '../../ts/routing/types.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

const GW = 'net-gw-id';
const OTHER = 'net-other-id';

function spec(services: unknown[], routing: unknown = {}) {
  return validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, networks: { gateway: { name: 'gw' } }, services, routing }).spec;
}

function task(id: string, serviceId: string, ip: string | undefined, state = 'running', desiredState = 'running'): RoutingTask {
  return { id, serviceId, state, desiredState, addresses: { ...(ip ? { [GW]: ip } : {}), [OTHER]: '10.9.9.9' } };
}

const cert = (domain: string): CertificateEntry => ({ domain, publicKey: `PUB-${domain}`, privateKey: `KEY-${domain}`, notAfter: Date.now() + 1e10, source: 'spec' });
const networks = [{ id: GW, name: 'gw' }, { id: OTHER, name: 'other' }];

t.test('every running task of a service is a destination, on the gateway network only', async (t) => {
  const s = spec([{ name: 'app', image: 'x', ports: { web: 8080 }, domains: [{ name: 'app.example.test' }] }]);
  const table = buildRouteTable({
    spec: s,
    services: [{ id: 'S1', name: 'app' }],
    tasks: [task('a', 'S1', '10.0.0.12'), task('b', 'S1', '10.0.0.3'), task('c', 'S1', '10.0.0.7'), task('d', 'S1', '10.0.0.8', 'starting'), task('e', 'S1', '10.0.0.9', 'running', 'shutdown')],
    networks,
    certificates: new Map([['app.example.test', cert('app.example.test')]]),
  });
  t.same(table.routes, [
    { hostName: 'app.example.test', destinationIps: ['10.0.0.3', '10.0.0.7', '10.0.0.12'], destinationPorts: [8080], privateKey: 'KEY-app.example.test', publicKey: 'PUB-app.example.test' },
  ]);
  t.same(table.problems, []);
});

t.test('domain port wins over ports.web; ports.custom adds hostnames', async (t) => {
  const s = spec([{ name: 'app', image: 'x', ports: { web: 8080, custom: { 'admin.example.test': 9000 } }, domains: [{ name: 'a.example.test', port: 81 }, { name: 'b.example.test' }] }]);
  const table = buildRouteTable({ spec: s, services: [{ id: 'S1', name: 'app' }], tasks: [task('a', 'S1', '10.0.0.2')], networks, certificates: new Map([['*.example.test', cert('*.example.test')]]) });
  t.same(
    table.routes.map((r) => [r.hostName, r.destinationPorts, r.publicKey]),
    [
      ['a.example.test', [81], 'PUB-*.example.test'],
      ['admin.example.test', [9000], 'PUB-*.example.test'],
      ['b.example.test', [8080], 'PUB-*.example.test'],
    ],
  );
});

t.test('bad port/domain data fails that service only, with the reason', async (t) => {
  const s = spec([
    { name: 'broken', image: 'x', domains: [{ name: 'broken.example.test' }] },
    { name: 'clash', image: 'x', ports: { web: 80, custom: { 'clash.example.test': 81 } }, domains: [{ name: 'clash.example.test' }] },
    { name: 'good', image: 'x', ports: { web: 80 }, domains: [{ name: 'good.example.test', protocol: 'http' }] },
  ]);
  const services = [{ id: 'B', name: 'broken' }, { id: 'C', name: 'clash' }, { id: 'G', name: 'good' }];
  const table = buildRouteTable({ spec: s, services, tasks: [task('1', 'B', '10.0.0.2'), task('2', 'C', '10.0.0.3'), task('3', 'G', '10.0.0.4')], networks, certificates: new Map() });
  t.same(table.routes.map((r) => r.hostName), ['good.example.test']);
  t.same(table.routes[0]?.privateKey, '', 'a plain-http domain needs no certificate');
  t.match(table.problems, [
    { service: 'broken', reason: /domain broken.example.test has no port and ports.web is not set/ },
    { service: 'clash', reason: /clash.example.test is given ports 80 and 81/ },
  ]);
  t.equal(table.problems.length, 2);
});

t.test('a service without a running task, or not deployed, is reported', async (t) => {
  const s = spec([
    { name: 'idle', image: 'x', ports: { web: 80 }, domains: [{ name: 'idle.example.test', protocol: 'http' }] },
    { name: 'ghost', image: 'x', ports: { web: 80 }, domains: [{ name: 'ghost.example.test', protocol: 'http' }] },
    { name: 'off-net', image: 'x', ports: { web: 80 }, domains: [{ name: 'off.example.test', protocol: 'http' }] },
  ]);
  const table = buildRouteTable({
    spec: s,
    services: [{ id: 'I', name: 'idle' }, { id: 'O', name: 'off-net' }],
    tasks: [task('1', 'I', '10.0.0.2', 'shutdown', 'shutdown'), task('2', 'O', undefined)],
    networks,
    certificates: new Map(),
  });
  t.same(table.routes, []);
  t.match(table.problems, [
    { service: 'idle', reason: /no running task on the gateway network gw/ },
    { service: 'ghost', reason: /not deployed/ },
    { service: 'off-net', reason: /no running task on the gateway network gw/ },
  ]);
});

t.test('hostnames without a certificate: http (default) or omit, reported either way', async (t) => {
  const doc = [{ name: 'app', image: 'x', ports: { web: 80 }, domains: [{ name: 'app.example.test' }] }];
  const input = { services: [{ id: 'S', name: 'app' }], tasks: [task('1', 'S', '10.0.0.2')], networks, certificates: new Map<string, CertificateEntry>() };
  const http = buildRouteTable({ spec: spec(doc), ...input });
  t.same(http.routes.map((r) => [r.hostName, r.privateKey, r.publicKey]), [['app.example.test', '', '']]);
  t.match(http.problems, [{ hostName: 'app.example.test', reason: /no certificate: routed over plain HTTP only/ }]);
  const omit = buildRouteTable({ spec: spec(doc, { withoutCertificate: 'omit' }), ...input });
  t.same(omit.routes, []);
  t.match(omit.problems, [{ hostName: 'app.example.test', reason: /no certificate \(routing.withoutCertificate: omit\)/ }]);
});

t.test('a hostname claimed twice stays with the first service', async (t) => {
  const s = spec([
    { name: 'one', image: 'x', ports: { web: 80 }, domains: [{ name: 'x.example.test', protocol: 'http' }] },
    { name: 'two', image: 'x', ports: { web: 80 }, domains: [{ name: 'x.example.test', protocol: 'http' }] },
  ]);
  const table = buildRouteTable({ spec: s, services: [{ id: '1', name: 'one' }, { id: '2', name: 'two' }], tasks: [task('a', '1', '10.0.0.2'), task('b', '2', '10.0.0.3')], networks, certificates: new Map() });
  t.same(table.routes.map((r) => r.destinationIps), [['10.0.0.2']]);
  t.match(table.problems, [{ service: 'two', hostName: 'x.example.test', reason: /already routed to service one/ }]);
});

t.test('the hash changes with the routes and only with them', async (t) => {
  const s = spec([{ name: 'app', image: 'x', ports: { web: 80 }, domains: [{ name: 'app.example.test', protocol: 'http' }] }]);
  const base = { spec: s, services: [{ id: 'S', name: 'app' }], networks, certificates: new Map<string, CertificateEntry>() };
  const a = buildRouteTable({ ...base, tasks: [task('1', 'S', '10.0.0.2'), task('2', 'S', '10.0.0.3')] });
  const b = buildRouteTable({ ...base, tasks: [task('2', 'S', '10.0.0.3'), task('1', 'S', '10.0.0.2')] });
  const c = buildRouteTable({ ...base, tasks: [task('1', 'S', '10.0.0.2')] });
  t.equal(routeTableHash(a), routeTableHash(b), 'task order does not matter');
  t.not(routeTableHash(a), routeTableHash(c));
});

t.test('wantedHosts lower-cases hostnames', async (t) => {
  const s = spec([{ name: 'app', image: 'x', ports: { web: 80 }, domains: [{ name: 'App.Example.test' }] }]);
  t.same(wantedHosts(s.services[0]!).hosts, [{ hostName: 'app.example.test', port: 80, tls: true }]);
});

t.test('the routing section validates with field paths', async (t) => {
  t.throws(() => spec([], { certificates: [{ domain: 'a.example.test', certFile: '/x.crt' }] }), { message: /routing.certificates\[0\]: expected either certFile and keyFile, or cert and key/ });
  t.throws(() => spec([], { caddy: { adminUrl: 'ftp://x' } }), { message: /routing.caddy.adminUrl/ });
  t.throws(() => spec([], { edge: { token: 'x' } }), { message: /routing.edge/ }, 'the token is not a spec field');
});

t.test('with a health check, only healthy tasks take traffic', async (t) => {
  const s = spec([{ name: 'app', image: 'x', ports: { web: 8080 }, domains: [{ name: 'app.example.test', protocol: 'http' }], healthcheck: { test: 'true' } }]);
  const withHealth = (tk: RoutingTask, health: RoutingTask['health']): RoutingTask => ({ ...tk, health });
  const table = buildRouteTable({
    spec: s,
    services: [{ id: 'S1', name: 'app' }],
    tasks: [
      withHealth(task('a', 'S1', '10.0.0.2'), 'healthy'),
      withHealth(task('b', 'S1', '10.0.0.3'), 'unhealthy'),
      withHealth(task('c', 'S1', '10.0.0.4', 'starting'), 'starting'),
      withHealth(task('d', 'S1', '10.0.0.5', 'starting'), 'healthy'),
      withHealth(task('e', 'S1', '10.0.0.6', 'running', 'shutdown'), 'healthy'),
      task('f', 'S1', '10.0.0.7'),
      task('g', 'S1', '10.0.0.8', 'starting'),
    ],
    networks,
    certificates: new Map(),
  });
  t.same(table.routes[0]?.destinationIps, ['10.0.0.2', '10.0.0.5', '10.0.0.7'], 'healthy here (even while Swarm still says starting), or running elsewhere; never unhealthy, starting or stopping');
  const none = buildRouteTable({ spec: s, services: [{ id: 'S1', name: 'app' }], tasks: [withHealth(task('b', 'S1', '10.0.0.3'), 'unhealthy')], networks, certificates: new Map() });
  t.same(none.routes, []);
  t.match(none.problems, [{ service: 'app', reason: /not routed: no running task/ }]);
});
