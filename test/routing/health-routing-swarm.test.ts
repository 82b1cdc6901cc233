import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { TaskHealthController } from '../../ts/controllers/task-health.ts';
import { DockerEventStream } from '../../ts/docker/event-stream.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { RoutingController, ROUTING_EVENT_TYPES } from '../../ts/routing/routing-controller.ts';
import { cleanupCluster, connect, load, runOnce, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * Health checks and placement on the real swarm: a service whose check fails is Degraded with the
 * check's output and not routed; when the check passes it is routed, and when it fails again it
 * leaves the table, each soon after the container's health_status event. A service whose
 * constraint no node satisfies is Degraded with the constraint until the node gets the label.
 */

const run = promisify(execFile);
const { docker } = await connect();
const doc = testDoc('hc') as any;
const cluster = doc.cluster.name as string;
const name = `${cluster}-web`;
const HOST = `${cluster}.example.test`;
const stateDir = mkdtempSync(join(tmpdir(), 'coreflow-hc-'));
const setCheck = (state: 'ok' | 'bad') => writeFileSync(join(stateDir, 'state'), `${state}\n`);
setCheck('bad');

doc.services = [
  {
    name,
    image: TEST_IMAGE,
    command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    resources: { memoryLimitMB: 32, volumeMounts: [{ hostFsPath: stateDir, containerFsPath: '/state', readOnly: true }] },
    ports: { web: 8080 },
    domains: [{ name: HOST, protocol: 'http' }],
    update: { monitorSeconds: 0 },
    stopGracePeriod: '5s',
    healthcheck: { test: 'echo "check says $(cat /state/state)"; [ "$(cat /state/state)" = ok ]', interval: '1s', timeout: '2s', retries: 2 },
  },
];
let loaded = load(doc);

const health = new TaskHealthController({ docker, cluster: () => cluster, intervalMs: 1000 });
const healthOf = async (service: string) => (await health.reconcile(), health.health.get(service));
const events = new DockerEventStream(docker, { types: ROUTING_EVENT_TYPES, log: silentLogger() });
const routing = new RoutingController({ docker, events, desired: () => loaded, log: silentLogger(), debounceMs: 20 });
const route = () => routing.current?.table.routes.find((r) => r.hostName === HOST);

/** When each health_status event of this cluster's containers arrived (ms since the epoch). */
const healthEvents: { action: string; at: number }[] = [];
events.subscribe({
  onEvent: (e) => {
    if (e.Action.startsWith('health_status') && (e.Actor.Attributes?.['com.docker.swarm.service.name'] ?? '') === name) healthEvents.push({ action: e.Action, at: Date.now() });
  },
});
await events.start();

t.teardown(async () => {
  await routing.stop();
  await events.stop();
  await cleanupCluster(docker, cluster);
});

t.test('a failing check: Degraded with its output, not routed', async (t) => {
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  await routing.start();
  const h = await waitFor('Degraded with the check output', async () => {
    const x = await healthOf(name);
    return x?.health === 'Degraded' && /check says bad/.test(x.message ?? '') ? x : undefined;
  }, 60_000, 500);
  t.match(h.message, /^0\/1 task\(s\) healthy; health check failing: check says bad/);
  routing.trigger('test');
  await waitFor('a route table', async () => routing.current?.table.problems.some((p) => p.service === name), 10_000, 50);
  t.equal(route(), undefined, 'no route while no task is healthy');
});

t.test('the check passes: routed soon after the healthy event; Healthy', async (t) => {
  const seen = healthEvents.length;
  setCheck('ok');
  const r = await waitFor('routed', async () => route(), 30_000, 20);
  const routedAt = Date.now();
  const event = healthEvents.slice(seen).find((e) => e.action === 'health_status: healthy');
  t.ok(event, 'a health_status: healthy event came');
  t.equal(r.destinationIps.length, 1);
  t.comment(`routed ${routedAt - (event?.at ?? routedAt)} ms after the healthy event (target: within 1 s)`);
  t.ok(routedAt - (event?.at ?? routedAt) < 5000, 'routed right after the event, not at the periodic resync');
  const h = await waitFor('Healthy', async () => {
    const x = await healthOf(name);
    return x?.health === 'Healthy' ? x : undefined;
  }, 30_000, 300);
  t.equal(h.message, '1/1 task(s) running');
});

t.test('the check fails again: out of the table soon after the unhealthy event; Degraded with the output', async (t) => {
  const seen = healthEvents.length;
  setCheck('bad');
  await waitFor('not routed', async () => route() === undefined, 30_000, 20);
  const goneAt = Date.now();
  const event = healthEvents.slice(seen).find((e) => e.action === 'health_status: unhealthy');
  t.ok(event, 'a health_status: unhealthy event came');
  t.comment(`left the table ${goneAt - (event?.at ?? goneAt)} ms after the unhealthy event (target: within 1 s)`);
  t.ok(goneAt - (event?.at ?? goneAt) < 5000, 'removed right after the event, not at the periodic resync');
  const h = await waitFor('Degraded', async () => {
    const x = await healthOf(name);
    return x?.health === 'Degraded' ? x : undefined;
  }, 30_000, 300);
  t.match(h.message, /health check failing: check says bad/);
});

t.test('a constraint no node satisfies: Degraded with the constraint; labelling the node lets it run', async (t) => {
  const key = `cf-test-${uniqueName('lbl')}`;
  const placed = `${cluster}-placed`;
  const { stdout } = await run('docker', ['info', '--format', '{{.Swarm.NodeID}}']);
  const node = stdout.trim();
  t.teardown(() => run('docker', ['node', 'update', '--label-rm', key, node]).catch(() => undefined));
  doc.services = [...doc.services.slice(0, 1), { name: placed, image: TEST_IMAGE, command: ['sleep', '3600'], resources: { memoryLimitMB: 16 }, placement: { constraints: [`node.labels.${key}==yes`] } }];
  loaded = load(doc);
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  const h = await waitFor('Degraded: no suitable node', async () => {
    const x = await healthOf(placed);
    return x?.health === 'Degraded' ? x : undefined;
  }, 60_000, 500);
  t.match(h.message, new RegExp(`no suitable node.*placement: constraints node\\.labels\\.${key}==yes`));
  await run('docker', ['node', 'update', '--label-add', `${key}=yes`, node]);
  const ok = await waitFor('Healthy once the node has the label', async () => {
    const x = await healthOf(placed);
    return x?.health === 'Healthy' ? x : undefined;
  }, 60_000, 500);
  t.equal(ok.message, '1/1 task(s) running');
});
