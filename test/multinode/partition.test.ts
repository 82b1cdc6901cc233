import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { settings } from '../../ts/config/settings.ts';
import { boundPort, httpJson, startCoreflow, type CoreflowProc } from '../helpers/controlplane-procs.ts';
import { connectNodes, isolateNode, nodeSocket, rejoinNode, type NodeNumber } from '../helpers/multinode.ts';
import { cleanupCluster, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * A partitioned manager: the lease holder's node is cut off the network while its engine and the
 * agent keep running. Its raft has no quorum, so it cannot renew; it must stop reconciling before
 * the standby on the majority side may take over (never two reconcilers at once), and the
 * standby takes over once the lease time passed.
 */

const hasLease = 'leaseSeconds' in settings;
const LEASE_SECONDS = 3;

t.test('the holder on a partitioned manager stops before the standby on the majority takes over', { skip: hasLease ? false : 'no agent lease in this build (COREFLOW_LEASE_SECONDS)' }, async (t) => {
  const nodes = await connectNodes();
  const docker = nodes[0]!.docker;
  const dir = await mkdtemp(join(tmpdir(), 'cf-mn-partition-'));
  const doc = testDoc('mnpart');
  doc.services = [{ name: uniqueName('web'), image: TEST_IMAGE, command: WEB_COMMAND, scaleFactor: 1 }];
  const spec = join(dir, 'spec.yaml');
  await writeFile(spec, stringify(doc));
  const agents: CoreflowProc[] = [];
  let isolated: NodeNumber | undefined;
  t.teardown(async () => {
    for (const a of agents) await a.stop('SIGKILL');
    if (isolated) await rejoinNode(isolated);
    // A rejoining manager with a stale log disrupts the elections for a while (no pre-vote).
    await waitFor('a leader again, seen from every node', async () => {
      for (const n of nodes) await n.docker.listNodes();
      return true;
    }, 120_000, 1000);
    await cleanupCluster(docker, doc.cluster.name);
    for (const n of nodes) n.conn.close();
    await rm(dir, { recursive: true, force: true });
  });
  const start = (n: NodeNumber) => {
    const p = startCoreflow(['agent', '--port', '0', '--host', '127.0.0.1', '--spec', spec, '--state-dir', join(dir, `state-${n}`)], {
      DOCKER_HOST: nodeSocket(n),
      COREFLOW_LEASE_SECONDS: String(LEASE_SECONDS),
      COREFLOW_RESYNC_CRON: '0 0 0 1 1 *',
      COREFLOW_LOG_LEVEL: 'info',
    });
    agents.push(p);
    return p;
  };

  // The holder on node 2 (started first), a standby on node 3.
  const holder = start(2);
  const holderPort = await boundPort(holder, 'internal server listening');
  await holder.waitForLog('the holder\'s first run', (l) => l.msg === 'run finished', 60_000);
  const standby = start(3);
  const standbyPort = await boundPort(standby, 'internal server listening');
  await waitFor('the node-3 agent in standby', async () => ((await httpJson('GET', `http://127.0.0.1:${standbyPort}/v1/status`, undefined)).body.lease as { state?: string } | undefined)?.state === 'standby', 30_000, 100);
  t.equal((await fetch(`http://127.0.0.1:${holderPort}/readyz`)).status, 200, 'the holder is ready');

  isolated = 2;
  const cutAt = Date.now();
  await isolateNode(2);
  // The holder's /readyz answers from its own clock (its last renewal plus the lease time, less a
  // margin): the moment it no longer considers itself the holder, whatever its hung Docker calls do.
  let notReadyAt = 0;
  const watchReady = (async () => {
    while (!notReadyAt && Date.now() - cutAt < 120_000) {
      const res = await fetch(`http://127.0.0.1:${holderPort}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
      if (res && res.status !== 200) notReadyAt = Date.now();
      else await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const took = await standby.waitForLog('the standby takes over', (l) => l.msg === 'lease acquired; this agent reconciles', 120_000);
  const tookAt = Date.parse(String(took.time));
  t.equal(took.how, 'expired', 'the standby took the lease once it expired');
  await watchReady;
  t.comment(`partition -> the holder no longer ready (holding) ${notReadyAt - cutAt} ms; -> the standby took over ${tookAt - cutAt} ms`);
  t.ok(notReadyAt > 0 && notReadyAt <= tookAt, 'the partitioned holder gave up reconciling before the standby took over');
  const lastHolderRun = holder.logs.filter((l) => l.msg === 'run started').map((l) => Date.parse(String(l.time))).at(-1) ?? 0;
  t.ok(lastHolderRun < tookAt, 'no run of the old holder started after the takeover');
  t.match(await standby.waitForLog('the new holder\'s run', (l) => l.msg === 'run finished', 60_000), { status: 'succeeded', summary: { creates: 0, deletes: 0 } }, 'the new holder converges without recreating anything');
  const lost = await holder.waitForLog('the partitioned holder logs the loss', (l) => l.msg === 'lease lost; this agent stops reconciling', 120_000);
  t.comment(`the partitioned holder logged the loss ${Date.parse(String(lost.time)) - cutAt} ms after the cut (when its hung lease call failed)`);
});
