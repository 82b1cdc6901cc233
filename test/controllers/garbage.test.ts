import t from 'tap';
import { GarbageController } from '../../ts/controllers/garbage.ts';
import { ownershipLabels } from '../../ts/docker/labels.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { cleanupCluster, connect, TEST_IMAGE, uniqueName } from '../helpers/swarm.ts';

/** The garbage controller on the real swarm: only this cluster's unreferenced networks and secrets go. */
const { docker } = await connect();
const cluster = uniqueName('cfgc');
const other = uniqueName('cfgc-other');
const created: { kind: 'network' | 'secret'; id: string }[] = [];
t.teardown(async () => {
  await cleanupCluster(docker, cluster);
  await cleanupCluster(docker, other);
  for (const c of created) {
    await (c.kind === 'network' ? docker.getNetwork(c.id).remove() : docker.getSecret(c.id).remove()).catch(() => undefined);
  }
});

async function network(name: string, labels: Record<string, string>): Promise<string> {
  const n = await docker.createNetwork({ Name: name, Driver: 'overlay', Attachable: true, Labels: labels });
  created.push({ kind: 'network', id: n.id });
  return n.id;
}
async function secret(name: string, labels: Record<string, string>): Promise<string> {
  const s = (await docker.createSecret({ Name: name, Labels: labels, Data: Buffer.from('not-a-real-secret').toString('base64') })) as { id: string };
  created.push({ kind: 'secret', id: s.id });
  return s.id;
}
const exists = async (kind: 'network' | 'secret', id: string) =>
  kind === 'network' ? docker.getNetwork(id).inspect().then(() => true, () => false) : docker.getSecret(id).inspect().then(() => true, () => false);

t.test('removes unreferenced owned networks and secrets after two runs, nothing else', async (t) => {
  const desiredNet = await network(`${cluster}-gw`, ownershipLabels(cluster, 'network', 'h'));
  const orphanNet = await network(`${cluster}-old`, ownershipLabels(cluster, 'network', 'h'));
  const usedNet = await network(`${cluster}-used`, ownershipLabels(cluster, 'network', 'h'));
  const foreignNet = await network(`${other}-x`, ownershipLabels(other, 'network', 'h'));
  const unlabelledNet = await network(`${cluster}-nolabel`, {});
  const orphanSecret = await secret(`${cluster}-old`, ownershipLabels(cluster, 'secret', 'h'));
  const usedSecret = await secret(`${cluster}-used`, ownershipLabels(cluster, 'secret', 'h'));
  const unlabelledSecret = await secret(`${cluster}-nolabel`, {});
  await docker.createService({
    Name: uniqueName('cfgc-user'),
    Labels: ownershipLabels(cluster, 'service', 'h'),
    TaskTemplate: {
      ContainerSpec: { Image: TEST_IMAGE, Command: ['sleep', '3600'], Secrets: [{ SecretID: usedSecret, SecretName: `${cluster}-used`, File: { Name: 'x', UID: '0', GID: '0', Mode: 0o400 } }] },
      Networks: [{ Target: usedNet }],
    },
    Mode: { Replicated: { Replicas: 0 } },
  });
  let busy = false;
  const gc = new GarbageController({
    docker,
    log: silentLogger(),
    desired: () => ({ cluster, networks: [`${cluster}-gw`] }),
    busy: () => busy,
    intervalMs: 1000,
    graceMs: 0,
  });
  const signal = new AbortController().signal;
  t.equal(await gc.reconcile(signal), 0, 'first run only marks');
  busy = true;
  t.equal(await gc.reconcile(signal), 0, 'nothing while a chain run is going on');
  busy = false;
  t.equal(await gc.reconcile(signal), 2, 'second run removes the orphaned network and secret');
  t.notOk(await exists('network', orphanNet));
  t.notOk(await exists('secret', orphanSecret));
  for (const [kind, id, what] of [
    ['network', desiredNet, 'the desired network'],
    ['network', usedNet, 'a network a service uses'],
    ['network', foreignNet, "another cluster's network"],
    ['network', unlabelledNet, 'an unlabelled network'],
    ['secret', usedSecret, 'a secret a service mounts'],
    ['secret', unlabelledSecret, 'an unlabelled secret'],
  ] as const) {
    t.ok(await exists(kind, id), `kept: ${what}`);
  }
});

t.test('nothing is removed without a desired state, within the grace period, or that the chain keeps', async (t) => {
  const young = await secret(`${cluster}-young`, ownershipLabels(cluster, 'secret', 'h'));
  const signal = new AbortController().signal;
  const kept = new GarbageController({ docker, log: silentLogger(), desired: () => ({ cluster, networks: [`${cluster}-gw`] }), keep: () => new Set([`secret/${cluster}-young`]), busy: () => false, intervalMs: 1000, graceMs: 0 });
  await kept.reconcile(signal);
  t.equal(await kept.reconcile(signal), 0, 'a secret the last run kept as desired is not garbage');
  const none = new GarbageController({ docker, log: silentLogger(), desired: () => undefined, busy: () => false, intervalMs: 1000, graceMs: 0 });
  await none.reconcile(signal);
  t.equal(await none.reconcile(signal), 0);
  const graced = new GarbageController({ docker, log: silentLogger(), desired: () => ({ cluster, networks: [] }), busy: () => false, intervalMs: 1000, graceMs: 3_600_000 });
  await graced.reconcile(signal);
  t.equal(await graced.reconcile(signal), 0);
  t.ok(await exists('secret', young));
});
