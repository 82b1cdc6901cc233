/**
 * How fast task changes reach an edge proxy. Deploys an app with 3 replicas on the real swarm,
 * runs the routing controller with its periodic resync far away (60 s, so only the Docker event
 * path counts), connects a WebSocket edge client, then for ROUNDS rounds kills one task's
 * container and measures:
 *   - stop:  kill call -> the edge receives a table without that task's IP
 *   - start: the replacement container's start event -> the edge receives a table with 3 IPs
 * Run: node --import=tsx bench/routing-latency.ts [rounds]   (prints a JSON summary)
 * The target is 1 second for both.
 */
import { silentLogger } from '../ts/observe/logger.ts';
import { EDGE_PATH } from '../ts/routing/edge-hub.ts';
import { DockerEventStream } from '../ts/docker/event-stream.ts';
import { RoutingController, ROUTING_EVENT_TYPES } from '../ts/routing/routing-controller.ts';
import { InternalServer } from '../ts/server/internal-server.ts';
import { DesiredState } from '../ts/sources/desired-state.ts';
import { HOSTNAME_WEB_COMMAND, TestEdgeClient } from '../test/helpers/routing.ts';
import { cleanupCluster, connect, load, runOnce, TEST_IMAGE, testDoc, uniqueName } from '../test/helpers/swarm.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const TOKEN = 'bench-edge-token-0123456789';
const HOST = 'bench.example.test';

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0], median: s[Math.floor(s.length / 2)], max: s.at(-1) };
}

const { docker } = await connect();
const doc = testDoc('bench') as Record<string, any>;
const app = uniqueName('bench-app');
doc.services = [{ name: app, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, scaleFactor: 3, ports: { web: 8080 }, domains: [{ name: HOST, protocol: 'http' }] }];
doc.routing = { resyncSeconds: 60 };
const desired = new DesiredState();
const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
const dockerEvents = new DockerEventStream(docker, { types: ROUTING_EVENT_TYPES, log: silentLogger() });
const controller = new RoutingController({ docker, events: dockerEvents, desired: () => desired.get(), log: silentLogger(), edgeToken: TOKEN });
let edge: TestEdgeClient | undefined;
const stopEvents: (() => void)[] = [];
try {
  const run = await runOnce(docker, doc);
  if (run.status !== 'succeeded') throw new Error(`deploy failed: ${JSON.stringify(run.steps.map((s) => [s.kind, s.status, s.error]))}`);
  desired.offer(load(doc), 'bench');
  server.onUpgrade(EDGE_PATH, controller.edge.handleUpgrade);
  await server.start();
  await dockerEvents.start();
  await controller.start();
  edge = await TestEdgeClient.connect(`ws://127.0.0.1:${server.port}${EDGE_PATH}`, TOKEN);
  await edge.waitForTable((r) => r[0]?.destinationIps.length === 3, 0, 120_000);

  const startEvents: number[] = [];
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['start'], label: [`com.docker.swarm.service.name=${app}`] } });
  events.on('data', () => startEvents.push(Date.now()));
  stopEvents.push(() => (events as unknown as { destroy: () => void }).destroy());

  const stop: number[] = [];
  const start: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const tasks = (await docker.listTasks({ filters: { service: [app], 'desired-state': ['running'] } })) as any[];
    const victim = tasks.find((x) => x.Status?.State === 'running' && x.Status?.ContainerStatus?.ContainerID);
    const ip = (victim.NetworksAttachments as any[]).find((a) => a.Network.Spec.Name === doc.networks.gateway.name).Addresses[0].split('/')[0];
    const from = edge.received.length;
    const killedAt = Date.now();
    await docker.getContainer(victim.Status.ContainerStatus.ContainerID).kill();
    const gone = await edge.waitForTable((r) => !r[0]?.destinationIps.includes(ip), from, 30_000);
    stop.push(gone.at - killedAt);
    const startsBefore = startEvents.length;
    const back = await edge.waitForTable((r) => r[0]?.destinationIps.length === 3, edge.received.indexOf(gone), 60_000);
    const startedAt = startEvents[startsBefore] ?? startEvents.at(-1) ?? back.at;
    start.push(back.at - startedAt);
    process.stderr.write(`round ${i + 1}: stop ${stop.at(-1)} ms, start ${start.at(-1)} ms\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'routing-latency', unit: 'ms', stop: stats(stop), start: stats(start), targetMs: 1000 }, null, 2)}\n`);
} finally {
  for (const s of stopEvents) s();
  edge?.close();
  await controller.stop();
  await dockerEvents.stop();
  await server.stop();
  await cleanupCluster(docker, doc.cluster.name);
}
