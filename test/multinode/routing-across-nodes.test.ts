import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../../ts/agent.ts';
import { loadConfig } from '../../ts/config/config.ts';
import { createLogger } from '../../ts/observe/logger.ts';
import { connectNodes, nodeAddress, nodeSocket, runningTasks, setAvailability, type TaskPlace } from '../helpers/multinode.ts';
import { createCaddyService, freePort, getWithHost, HOSTNAME_WEB_COMMAND } from '../helpers/routing.ts';
import { cleanupCluster, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * Routing on the three-manager swarm of scripts/multinode.sh: the agent (standalone, spec file)
 * talks to node 1's engine; a global service runs one task per node, the route table holds the
 * task IPs of every node, and Caddy (a Swarm service on node 1, on the gateway overlay) reaches
 * the tasks on nodes 2 and 3 over the overlay. Draining a node moves its tasks and the routes follow.
 */

const GLOBAL_HOST = 'global.example.test';
const MOVING_HOST = 'moving.example.test';

interface RoutingBody {
  routes: { hostName: string; destinationIps: string[] }[];
}

t.test('a global service across three nodes, routed through Caddy over the overlay; a drain moves tasks and routes', async (t) => {
  const nodes = await connectNodes();
  const d1 = nodes[0]!.docker;
  const doc = testDoc('mn') as Record<string, any>;
  const cluster = doc.cluster.name as string;
  const gateway = doc.networks.gateway.name as string;
  const globalName = uniqueName('glob');
  const movingName = uniqueName('moving');
  const caddyName = uniqueName('caddy');
  const ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
  doc.services = [
    { name: globalName, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, mode: 'global', ports: { web: 8080 }, domains: [{ name: GLOBAL_HOST }], update: { monitorSeconds: 0 } },
    { name: movingName, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, scaleFactor: 3, ports: { web: 8080 }, domains: [{ name: MOVING_HOST }], update: { monitorSeconds: 0 } },
  ];
  // Caddy runs on node 1; the agent reaches its admin API through node 1's bridge address.
  doc.routing = { caddy: { enabled: true, adminUrl: `http://${nodeAddress(1)}:${ports.admin}` } };
  const dir = mkdtempSync(join(tmpdir(), 'coreflow-multinode-'));
  writeFileSync(join(dir, 'cluster.yaml'), stringify(doc));

  const logLines: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }) });
  const config = await loadConfig({ spec: join(dir, 'cluster.yaml'), port: '0', host: '127.0.0.1', stateDir: dir, dockerHost: nodeSocket(1) });
  const agent = new Agent(config, log);
  let caddyId: string | undefined;
  let drained: string | undefined;
  t.teardown(async () => {
    await agent.stop();
    if (drained) await setAvailability(d1, drained, 'active').catch(() => undefined);
    if (caddyId) await d1.getService(caddyId).remove().catch(() => undefined);
    await cleanupCluster(d1, cluster);
    for (const n of nodes) n.conn.close();
  });

  await agent.start();
  const routesOf = async (host: string): Promise<string[] | undefined> => {
    const body = (await (await fetch(`http://127.0.0.1:${agent.server.port}/v1/routing`)).json()) as RoutingBody;
    return body.routes?.find((r) => r.hostName === host)?.destinationIps.slice().sort();
  };
  /** GETs through Caddy's published port on node 1 until `hostnames` all answered; resolves with what answered. */
  const reachAll = async (host: string, hostnames: string[]): Promise<Set<string>> => {
    const seen = new Set<string>();
    await waitFor(`Caddy to reach ${hostnames.join(', ')} for ${host}`, async () => {
      const r = await getWithHost(ports.http, host, '/', nodeAddress(1)).catch(() => undefined);
      if (r?.status === 200) seen.add(r.body.trim());
      return hostnames.every((h) => seen.has(h));
    }, 60_000, 50);
    return seen;
  };

  await waitFor('the gateway network', async () => (await d1.listNetworks({ filters: { name: [gateway] } })).some((n) => n.Name === gateway), 60_000, 250);
  caddyId = await createCaddyService(d1, caddyName, gateway, ports, [`node.id == ${nodes[0]!.id}`]);

  // --- one task of the global service per node, every IP in the route table
  const globalTasks = await waitFor('one running task of the global service on each node', async () => {
    const tasks = await runningTasks(d1, globalName, gateway);
    return tasks.length === 3 && tasks.every((x) => x.ip && x.hostname) ? tasks : undefined;
  }, 90_000, 500);
  t.same(globalTasks.map((x) => x.nodeId).sort(), nodes.map((n) => n.id).sort(), 'one task on each of the three nodes');
  const globalIps = globalTasks.map((x) => x.ip!).sort();
  t.same(await waitFor('the global service routed to its three tasks', async () => {
    const ips = await routesOf(GLOBAL_HOST);
    return JSON.stringify(ips) === JSON.stringify(globalIps) ? ips : undefined;
  }, 60_000, 250), globalIps, 'the route table holds the task IPs of all three nodes');

  // --- Caddy on node 1 reaches the tasks on nodes 2 and 3 over the overlay
  const remote = globalTasks.filter((x) => x.nodeId !== nodes[0]!.id).map((x) => x.hostname!);
  const seen = await reachAll(GLOBAL_HOST, globalTasks.map((x) => x.hostname!));
  t.ok(remote.every((h) => seen.has(h)), `Caddy on node 1 answered from the tasks on nodes 2 and 3 (${remote.join(', ')})`);

  // --- draining a node (not Caddy's) moves its tasks; the routes follow
  const before = await waitFor('three running tasks of the replicated service, routed', async () => {
    const tasks = await runningTasks(d1, movingName, gateway);
    const ips = await routesOf(MOVING_HOST);
    return tasks.length === 3 && JSON.stringify(ips) === JSON.stringify(tasks.map((x) => x.ip).sort()) ? tasks : undefined;
  }, 90_000, 500);
  const victim = nodes.slice(1).find((n) => before.some((x) => x.nodeId === n.id)) ?? nodes[2]!;
  const leaving = before.filter((x) => x.nodeId === victim.id);
  t.comment(`draining node ${victim.n} (${victim.id}), which runs ${leaving.length} of the 3 replicated tasks`);
  drained = victim.id;
  const drainedAt = Date.now();
  await setAvailability(d1, victim.id, 'drain');
  let routedAt = 0;
  const after = await waitFor('the replicated tasks moved off the drained node and the routes followed', async () => {
    const tasks = await runningTasks(d1, movingName, gateway);
    if (tasks.length !== 3 || tasks.some((x) => x.nodeId === victim.id)) return undefined;
    const ips = await routesOf(MOVING_HOST);
    if (JSON.stringify(ips) !== JSON.stringify(tasks.map((x) => x.ip).sort())) return undefined;
    routedAt = Date.now();
    return tasks;
  }, 90_000, 100);
  const moved: TaskPlace[] = after.filter((x) => !before.some((b) => b.id === x.id));
  t.equal(moved.length, leaving.length, 'as many new tasks as the drained node ran');
  t.ok(moved.every((x) => x.nodeId !== victim.id), 'the new tasks run on the other nodes');
  t.notOk(after.some((x) => leaving.some((l) => l.ip === x.ip && l.id === x.id)), 'no task of the drained node is routed');
  const lastStart = Math.max(...moved.map((x) => x.since));
  t.comment(`drain -> routes followed: ${routedAt - drainedAt} ms; newest moved task running -> seen routed: ${routedAt - lastStart} ms (bench/multinode-drain.ts measures it)`);
  t.same(await waitFor('the global service routed without the drained node', async () => {
    const ips = await routesOf(GLOBAL_HOST);
    return ips?.length === 2 ? ips : undefined;
  }, 30_000, 250), globalIps.filter((ip) => ip !== globalTasks.find((x) => x.nodeId === victim.id)?.ip), 'the global service lost only the drained node\'s task');
  await reachAll(MOVING_HOST, moved.map((x) => x.hostname!));
  t.pass('Caddy reaches the moved tasks');

  const changes = logLines.filter((l) => l.includes('route table changed')).map((l) => JSON.parse(l) as { trigger?: string; sinceTriggerMs?: number });
  t.comment(`route table changes: ${changes.map((c) => `${c.trigger}: ${c.sinceTriggerMs} ms`).join('; ')}`);
  t.ok(changes.some((c) => c.trigger === 'task changed in the swarm'), 'tasks of other nodes reached the table through the task list (their container events go to their own engine)');
});
