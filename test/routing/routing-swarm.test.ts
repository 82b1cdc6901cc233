import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../../ts/agent.ts';
import { loadConfig } from '../../ts/config/config.ts';
import { createLogger } from '../../ts/observe/logger.ts';
import { createCaddyService, freePort, getWithHost, HOSTNAME_WEB_COMMAND, TestEdgeClient, upgradeStatus } from '../helpers/routing.ts';
import { traefikSchema } from '../helpers/traefik-schema.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * The whole routing path on the real swarm: the agent (standalone, spec file) deploys an app,
 * builds the route table from its tasks and pushes it to a test edge client over WebSocket, to a
 * real Caddy (a Swarm service on the gateway network) and to the Traefik endpoint.
 */

const fixtures = new URL('../fixtures/routing/', import.meta.url).pathname;
const TOKEN = 'edge-token-for-tests-0123456789';
const HOST = 'app.example.test';
/** A hostname whose certificate comes from the certificate provider (an in-process stand-in for the control plane). */
const OTHER = 'other.example.test';

t.test('routing to edge, Caddy and Traefik on the real swarm', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('rt') as Record<string, any>;
  const cluster = doc.cluster.name as string;
  const gateway = doc.networks.gateway.name as string;
  const appName = uniqueName('app');
  const caddyName = uniqueName('caddy');
  const ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
  let caddyId: string | undefined;

  const dir = mkdtempSync(join(tmpdir(), 'coreflow-routing-'));
  const specFile = join(dir, 'cluster.yaml');
  const writeSpec = (replicas: number) => {
    doc.services = [
      { name: appName, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, scaleFactor: replicas, ports: { web: 8080, custom: { [OTHER]: 8080 } }, domains: [{ name: HOST }], update: { monitorSeconds: 0 } },
    ];
    doc.routing = {
      resyncSeconds: 2,
      certificates: [{ domain: HOST, certFile: `${fixtures}app.crt`, keyFile: `${fixtures}app.key` }],
      caddy: { enabled: true, adminUrl: `http://127.0.0.1:${ports.admin}` },
      traefik: { enabled: true },
    };
    writeFileSync(specFile, stringify(doc));
  };
  writeSpec(1);

  const logLines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }) });
  const config = await loadConfig({ spec: specFile, port: '0', host: '127.0.0.1', edgeToken: TOKEN, stateDir: dir });
  const agent = new Agent(config, log);
  const providerCalls: string[] = [];
  agent.certificateProvider = {
    getCertificateForDomain: async (domain) => {
      providerCalls.push(domain);
      return domain === OTHER ? { publicKey: readFileSync(`${fixtures}other.crt`, 'utf8'), privateKey: readFileSync(`${fixtures}other.key`, 'utf8') } : undefined;
    },
  };
  let edge: TestEdgeClient | undefined;

  t.teardown(async () => {
    edge?.close();
    await agent.stop();
    if (caddyId) await docker.getService(caddyId).remove().catch(() => undefined);
    await cleanupCluster(docker, cluster);
  });

  await agent.start();
  const base = `127.0.0.1:${agent.server.port}`;
  caddyId = await createCaddyService(docker, caddyName, gateway, ports);

  // --- edge client: refused with a wrong token, gets the table on connect
  t.equal(await upgradeStatus(`ws://${base}/v1/edge`, 'wrong-token-wrong-token-wrong'), 401, 'a wrong token is refused');
  t.equal(await upgradeStatus(`ws://${base}/v1/edge`, ''), 401, 'no token is refused');
  const one = await waitFor('the app routed with one task', async () => agent.routing?.current?.table.routes.find((r) => r.hostName === HOST && r.destinationIps.length === 1), 60_000);
  edge = await TestEdgeClient.connect(`ws://${base}/v1/edge`, TOKEN);
  const onConnect = await edge.waitForTable(() => true, 0, 5000);
  t.same(
    onConnect.routes.map((r) => [r.hostName, r.destinationIps, r.destinationPorts]),
    [
      [HOST, one.destinationIps, [8080]],
      [OTHER, one.destinationIps, [8080]],
    ],
    'the table arrives on connect',
  );
  t.equal(onConnect.routes[0]?.publicKey, readFileSync(`${fixtures}app.crt`, 'utf8'), 'with the certificate from the spec');
  t.equal(onConnect.routes[1]?.publicKey, readFileSync(`${fixtures}other.crt`, 'utf8'), 'and the one from the certificate provider');
  t.same(providerCalls, [OTHER], 'the provider is asked once, only for the hostname the spec has no certificate for');

  // --- Caddy: a request with the Host header reaches the app
  const firstBody = await waitFor('Caddy to route app.example.test', async () => {
    const r = await getWithHost(ports.http, HOST).catch(() => undefined);
    return r?.status === 200 ? r.body.trim() : undefined;
  }, 60_000, 500);
  t.ok(firstBody.length > 0, `Caddy answered from task ${firstBody}`);
  const tlsBody = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: ports.https, servername: HOST, headers: { host: HOST }, ca: readFileSync(`${fixtures}app.crt`), timeout: 5000 }, (res) => {
      let b = '';
      res.on('data', (c) => (b += String(c)));
      res.on('end', () => resolve(b.trim()));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(tlsBody, firstBody, 'HTTPS with the spec certificate reaches the app too');

  // --- scale 1 -> 3: three upstreams, in the edge table, in Caddy and in Traefik's config
  const beforeScale = edge.received.length;
  writeSpec(3);
  const three = await edge.waitForTable((routes) => routes[0]?.destinationIps.length === 3, beforeScale, 90_000);
  t.equal(new Set(three.routes[0]!.destinationIps).size, 3, 'three distinct task IPs pushed to the edge');
  const bodies = new Set<string>();
  await waitFor('requests through Caddy to reach 3 different tasks', async () => {
    const r = await getWithHost(ports.http, HOST).catch(() => undefined);
    if (r?.status === 200) bodies.add(r.body.trim());
    return bodies.size >= 3;
  }, 30_000, 50);
  t.equal(bodies.size, 3, 'Caddy balances over 3 upstreams');
  const caddyRoutes = (await (await fetch(`http://127.0.0.1:${ports.admin}/config/apps/http/servers/coreflow-http/routes`)).json()) as any[];
  t.same(caddyRoutes[0].handle[0].upstreams.map((u: { dial: string }) => u.dial).sort(), three.routes[0]!.destinationIps.map((ip) => `${ip}:8080`).sort());

  const traefik = await fetch(`http://${base}/v1/traefik`);
  t.equal(traefik.status, 200);
  const tcfg = (await traefik.json()) as any;
  const valid = traefikSchema.safeParse(tcfg);
  t.ok(valid.success, valid.success ? 'a valid Traefik dynamic configuration' : JSON.stringify(valid.error.issues));
  t.same(
    tcfg.http.services['coreflow-app-example-test'].loadBalancer.servers.map((s: { url: string }) => s.url).sort(),
    three.routes[0]!.destinationIps.map((ip) => `http://${ip}:8080`).sort(),
  );
  t.same(tcfg.http.routers['coreflow-app-example-test'], { rule: `Host(\`${HOST}\`)`, service: 'coreflow-app-example-test' });
  t.notOk(tcfg.tls, 'no private keys on the unauthenticated Traefik endpoint');

  // --- a Caddy that lost the table (restarted, or changed by hand) gets it back at the next resync
  const lost = await fetch(`http://127.0.0.1:${ports.admin}/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin: { listen: '0.0.0.0:2019' } }) });
  t.equal(lost.status, 200);
  await waitFor('Caddy to route again after losing its config', async () => (await getWithHost(ports.http, HOST).catch(() => undefined))?.status === 200, 20_000, 250);
  t.pass('the agent loaded the table into Caddy again');

  // --- stopping a task removes its IP (latency measured, see bench/routing-latency.ts)
  const tasks = await docker.listTasks({ filters: { service: [appName], 'desired-state': ['running'] } });
  const victim = tasks.find((x: any) => x.Status?.ContainerStatus?.ContainerID) as any;
  const victimIp = (victim.NetworksAttachments as any[]).find((a) => a.Network.Spec.Name === gateway).Addresses[0].split('/')[0];
  const beforeStop = edge.received.length;
  const stoppedAt = Date.now();
  await docker.getContainer(victim.Status.ContainerStatus.ContainerID).kill();
  const without = await edge.waitForTable((routes) => !routes[0]?.destinationIps.includes(victimIp), beforeStop, 30_000);
  t.comment(`stopped task ${victimIp} left the edge table ${without.at - stoppedAt} ms after the kill`);
  t.notOk(without.routes[0]?.destinationIps.includes(victimIp), 'the stopped task is no longer a destination');

  // --- no duplicate pushes: the table is rebuilt at every resync (every 2 s), but the edge gets
  // only tables that differ from the one before. Wait until two more rebuilds happened.
  const builds = new Set<string>([agent.routing!.status!.builtAt]);
  await waitFor('two periodic rebuilds of the route table', async () => builds.add(agent.routing!.status!.builtAt).size >= 3, 15_000, 50);
  const seen = edge.received.map((x) => JSON.stringify(x.routes));
  t.ok(seen.length >= 3, `the edge got ${seen.length} tables (on connect, after the scale, after the kill)`);
  for (let i = 1; i < seen.length; i++) t.not(seen[i], seen[i - 1], `push ${i} differs from push ${i - 1}`);

  // --- status endpoint without key material; no key in any log line
  const status = await (await fetch(`http://${base}/v1/routing`)).text();
  t.match(status, HOST);
  t.notMatch(status, /PRIVATE KEY|BEGIN CERTIFICATE/);
  t.notMatch(logLines.join(''), /PRIVATE KEY/, 'private keys never logged');
  t.notMatch(logLines.join(''), TOKEN, 'the edge token never logged');
  const latencies = logLines.filter((l) => l.includes('route table changed')).map((l) => JSON.parse(l) as { trigger?: string; sinceTriggerMs?: number });
  t.comment(`route table changes: ${latencies.map((l) => `${l.trigger}: ${l.sinceTriggerMs} ms`).join('; ')}`);
});
