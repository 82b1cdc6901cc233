/**
 * Route latency across nodes on the three-manager swarm of scripts/multinode.sh (not asserted in
 * tests): the agent (in process, standalone, on node 1's engine) routes a 3-replica service; each
 * run drains the node running most of its tasks and measures, for every task Swarm starts
 * elsewhere, the time from the task's running timestamp to the first route table holding its IP
 * (the table is read every 10 ms in process), and from the drain to the table holding all of them;
 * then makes the node active again. Tasks on other nodes send no container events to node 1, so
 * this is the COREFLOW_ROUTING_TASK_POLL_MS path.
 *   bash scripts/multinode.sh up && node --import=tsx bench/multinode-drain.ts [--runs 3]
 * Removes what it creates.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../ts/agent.ts';
import { loadConfig } from '../ts/config/config.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import { connectNodes, nodeSocket, runningTasks, setAvailability } from '../test/helpers/multinode.ts';
import { HOSTNAME_WEB_COMMAND } from '../test/helpers/routing.ts';
import { cleanupCluster, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Math.min(10, Math.max(1, Number(values.runs)));
const nodes = await connectNodes();
const d1 = nodes[0]!.docker;
const doc = testDoc('benchdrain') as Record<string, any>;
const gateway = doc.networks.gateway.name as string;
const app = uniqueName('app');
const HOST = 'drain.example.test';
doc.services = [{ name: app, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, scaleFactor: 3, ports: { web: 8080 }, domains: [{ name: HOST }], update: { monitorSeconds: 0 } }];
const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-drain-'));
await writeFile(join(dir, 'spec.json'), JSON.stringify(doc));
const agent = new Agent(await loadConfig({ spec: join(dir, 'spec.json'), port: '0', host: '127.0.0.1', stateDir: dir, dockerHost: nodeSocket(1) }), silentLogger());
let drained: string | undefined;
const routed = () => agent.routing?.current?.table.routes.find((r) => r.hostName === HOST)?.destinationIps ?? [];

try {
  await agent.start();
  for (let i = 0; i < runs; i++) {
    const before = await waitFor('3 running tasks, routed', async () => {
      const tasks = await runningTasks(d1, app, gateway);
      return tasks.length === 3 && tasks.every((x) => routed().includes(x.ip!)) ? tasks : undefined;
    }, 120_000, 100);
    const counts = new Map<string, number>();
    for (const x of before) counts.set(x.nodeId, (counts.get(x.nodeId) ?? 0) + 1);
    const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const drainAt = Date.now();
    drained = victim;
    await setAvailability(d1, victim, 'drain');
    // Every 10 ms: when each IP first shows in the table.
    const firstSeen = new Map<string, number>();
    const sampler = setInterval(() => {
      for (const ip of routed()) if (!firstSeen.has(ip)) firstSeen.set(ip, Date.now());
    }, 10);
    const after = await waitFor('the tasks moved and routed', async () => {
      const tasks = await runningTasks(d1, app, gateway);
      return tasks.length === 3 && tasks.every((x) => x.nodeId !== victim && firstSeen.has(x.ip!)) ? tasks : undefined;
    }, 120_000, 50);
    clearInterval(sampler);
    const moved = after.filter((x) => !before.some((b) => b.id === x.id));
    const lags = moved.map((x) => firstSeen.get(x.ip!)! - x.since);
    const allRouted = Math.max(...moved.map((x) => firstSeen.get(x.ip!)!)) - drainAt;
    const n = nodes.find((x) => x.id === victim)!.n;
    console.log(`run ${i + 1}: drained node ${n} (${moved.length} task(s) moved): task running -> routed ${lags.map((l) => `${l} ms`).join(', ')}; drain -> all routed ${(allRouted / 1000).toFixed(1)} s`);
    await setAvailability(d1, victim, 'active');
    drained = undefined;
  }
} finally {
  await agent.stop();
  if (drained) await setAvailability(d1, drained, 'active').catch(() => undefined);
  await cleanupCluster(d1, doc.cluster.name);
  for (const n of nodes) n.conn.close();
  await rm(dir, { recursive: true, force: true });
}
