/**
 * Failover time on the three-manager swarm of scripts/multinode.sh (not asserted in tests): the
 * agent's image deployed with examples/coreflow-stack.yml (lease time 15 s, the default), driven by
 * the reference control plane (a host process on the nodes' bridge); each run stops the engine of the node running the agent and measures, from
 * that moment, until Swarm started the agent on another manager, until the control plane saw it
 * authenticate, and until its first run report (its first reconcile on the new node); then starts
 * the stopped node again. Needs the agent image (coreflow:local, or $COREFLOW_AGENT_IMAGE) on the
 * host before `multinode.sh up` copies it into the nodes (see bench/README.md):
 *   bash scripts/multinode.sh up && node --import=tsx bench/multinode-failover.ts [--runs 3]
 * Removes what it creates.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { boundPort, startCoreflow } from '../test/helpers/controlplane-procs.ts';
import { deployAgentStack, type AgentStack } from '../test/helpers/agent-stack.ts';
import { AGENT_IMAGE, BRIDGE, connectNodes, nodeSocket, runningTasks, startNode, stopNode } from '../test/helpers/multinode.ts';
import { cleanupCluster, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Math.min(10, Math.max(1, Number(values.runs)));
const nodes = await connectNodes();
const doc = testDoc('benchfo') as Record<string, any>;
doc.services = [{ name: uniqueName('web'), image: TEST_IMAGE, command: WEB_COMMAND, scaleFactor: 3 }];
const token = `bench-${uniqueName('t')}-0123456789`;
const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-failover-'));
await writeFile(join(dir, 'spec.json'), JSON.stringify(doc));
await writeFile(join(dir, 'cp.token'), `${token}\n`);
const cp = startCoreflow(['controlplane', '--spec', join(dir, 'spec.json'), '--addr', `${BRIDGE}:0`, '--token-file', join(dir, 'cp.token')], { COREFLOW_LOG_LEVEL: 'info' });
let stack: AgentStack | undefined;
let down: (typeof nodes)[number] | undefined;
const live = () => nodes.find((n) => n !== down)!.docker;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

try {
  const port = await boundPort(cp, 'control plane listening');
  stack = await deployAgentStack({ stack: uniqueName('cfb').replace('-', ''), image: AGENT_IMAGE, cloudlyUrl: `ws://${BRIDGE}:${port}`, jumpcode: token, leaseSeconds: 15, dockerHost: nodeSocket(1) });
  const agentName = stack.service;
  await cp.waitForLog('the first run report', (l) => l.msg === 'agent report' && l.reason === 'run', 180_000);
  for (let i = 0; i < runs; i++) {
    const task = await waitFor('the agent task', async () => (await runningTasks(live(), agentName, '')).at(0), 60_000, 250);
    down = nodes.find((n) => n.id === task.nodeId)!;
    const from = cp.logs.length;
    const lostAt = Date.now();
    await stopNode(down.n);
    const stoppedMs = Date.now() - lostAt;
    const moved = await waitFor('the agent on another node', async () => (await runningTasks(live(), agentName, '')).find((x) => x.nodeId !== down!.id), 300_000, 250);
    const seenRunningMs = Date.now() - lostAt;
    const at = (msg: string, pred: (l: Record<string, unknown>) => boolean) =>
      cp.waitForLog(msg, (l) => cp.logs.indexOf(l) >= from && pred(l), 300_000).then((l) => Date.parse(String(l.time)) - lostAt);
    const authMs = await at('authenticated', (l) => l.msg === 'agent authenticated');
    const reportMs = await at('first run report', (l) => l.msg === 'agent report' && l.reason === 'run');
    const to = nodes.find((n) => n.id === moved.nodeId)!;
    console.log(`run ${i + 1}: node ${down.n} -> node ${to.n}: engine stopped ${s(stoppedMs)}, agent task seen running ${s(seenRunningMs)}, authenticated ${s(authMs)}, first reconcile reported ${s(reportMs)}`);
    await startNode(down.n, live());
    down = undefined;
  }
} finally {
  if (down) await startNode(down.n, live()).catch(() => undefined);
  await stack?.remove();
  await cleanupCluster(live(), doc.cluster.name);
  for (const n of nodes) await n.docker.getVolume(`${stack?.stack}_state`).remove().catch(() => undefined);
  await cp.stop();
  for (const n of nodes) n.conn.close();
  await rm(dir, { recursive: true, force: true });
}
