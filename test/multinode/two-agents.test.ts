import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { settings } from '../../ts/config/settings.ts';
import { LABEL_CLUSTER } from '../../ts/docker/labels.ts';
import { boundPort, httpJson, startCoreflow, type CoreflowProc } from '../helpers/controlplane-procs.ts';
import { connectNodes, nodeSocket, type NodeNumber } from '../helpers/multinode.ts';
import { parsePrometheusText } from '../helpers/prom-text.ts';
import { cleanupCluster, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * Two `coreflow agent` processes started by hand at the same moment on two managers of the
 * three-node swarm (node 2's and node 3's engines), on one spec: the swarm's raft decides which
 * takes the lease; exactly one reconciles, the other is a standby that wrote nothing. When the
 * holder dies without releasing, the standby on the other manager takes over once the lease time
 * passed and converges with zero Docker writes and the same objects.
 */

const hasLease = 'leaseSeconds' in settings;

t.test('two agents on two managers: exactly one reconciles; the other takes over when it dies', { skip: hasLease ? false : 'no agent lease in this build (COREFLOW_LEASE_SECONDS)' }, async (t) => {
  const nodes = await connectNodes();
  const docker = nodes[0]!.docker;
  const dir = await mkdtemp(join(tmpdir(), 'cf-mn-two-agents-'));
  const doc = testDoc('mn2ag');
  const cluster = doc.cluster.name;
  doc.services = [{ name: uniqueName('web'), image: TEST_IMAGE, command: WEB_COMMAND, scaleFactor: 2 }];
  const spec = join(dir, 'spec.yaml');
  await writeFile(spec, stringify(doc));
  const agents: CoreflowProc[] = [];
  t.teardown(async () => {
    for (const a of agents) await a.stop('SIGKILL');
    await cleanupCluster(docker, cluster);
    for (const n of nodes) n.conn.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = (n: NodeNumber) => {
    const p = startCoreflow(['agent', '--port', '0', '--host', '127.0.0.1', '--spec', spec, '--state-dir', join(dir, `state-${n}`)], {
      DOCKER_HOST: nodeSocket(n),
      COREFLOW_LEASE_SECONDS: '3',
      COREFLOW_RESYNC_CRON: '0 0 0 1 1 *',
      COREFLOW_LOG_LEVEL: 'info',
    });
    agents.push(p);
    return p;
  };
  const objects = async () => {
    const filters = { label: [`${LABEL_CLUSTER}=${cluster}`] };
    return {
      services: (await docker.listServices({ filters })).map((s) => `${s.Spec?.Name} ${s.ID} ${JSON.stringify(s.Spec)}`).sort(),
      networks: (await docker.listNetworks({ filters })).map((n) => `${n.Name} ${n.Id}`).sort(),
    };
  };
  /** Docker writes an agent made (its metrics), but those of the lease (a Swarm config). */
  const writes = async (port: number) => {
    const { samples } = parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    return samples
      .filter((s) => s.name === 'coreflow_docker_requests_total' && !/^(GET|HEAD) /.test(s.labels.operation ?? '') && !(s.labels.operation ?? '').includes('/configs'))
      .reduce((sum, s) => sum + s.value, 0);
  };
  const leaseOf = async (port: number) => (await httpJson('GET', `http://127.0.0.1:${port}/v1/status`, undefined)).body.lease as { state?: string; holder?: string; me?: string } | undefined;

  // Both at once: the lease's creation races through two different managers.
  const two = [start(2), start(3)] as const;
  const ports = await Promise.all(two.map((p) => boundPort(p, 'internal server listening')));
  // A standby that lost the race to create the lease learns the holder at its next read.
  const states = await waitFor('one holder and one standby that has read the lease', async () => {
    const s = await Promise.all(ports.map(leaseOf));
    const standbyState = s.find((x) => x?.state === 'standby');
    return s.map((x) => x?.state).sort().join() === 'holding,standby' && standbyState?.holder !== undefined ? s : undefined;
  }, 60_000, 100);
  const h = states.findIndex((s) => s?.state === 'holding');
  const holder = two[h]!;
  const standby = two[1 - h]!;
  t.comment(`the agent on node ${h === 0 ? 2 : 3} holds the lease`);
  t.equal(states[1 - h]?.holder, states[h]?.me, 'the standby names the holder');
  await holder.waitForLog('the holder\'s first run', (l) => l.msg === 'run finished', 60_000);
  t.equal(holder.logs.filter((l) => l.msg === 'lease acquired; this agent reconciles').length, 1, 'the holder acquired the lease once');
  t.notOk(standby.logs.some((l) => l.msg === 'lease acquired; this agent reconciles'), 'the standby never acquired it');
  t.notOk(standby.logs.some((l) => l.msg === 'run started' || l.msg === 'run finished'), 'the standby ran nothing');
  t.equal(await writes(ports[1 - h]!), 0, 'the standby wrote nothing to Docker');
  const before = await objects();
  t.equal(before.services.length, 1, 'one workload service');

  // The holder dies without releasing: the standby takes over after the lease time.
  holder.proc.kill('SIGKILL');
  const took = await standby.waitForLog('takeover', (l) => l.msg === 'lease acquired; this agent reconciles', 30_000);
  t.equal(took.how, 'expired', 'taken over once the lease expired');
  t.match(await standby.waitForLog('its first run', (l) => l.msg === 'run finished', 30_000), { status: 'succeeded', summary: { creates: 0, updates: 0, deletes: 0 } }, 'nothing to do');
  t.equal(await writes(ports[1 - h]!), 0, 'zero Docker writes after the takeover');
  t.same(await objects(), before, 'the same objects: nothing duplicated, removed or changed');
});
