import t from 'tap';
import { GarbageController } from '../../ts/controllers/garbage.ts';
import { ownershipLabels } from '../../ts/docker/labels.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, uniqueName } from '../helpers/swarm.ts';

/**
 * The garbage controller on the real swarm: it finds only this cluster's unreferenced networks
 * and secrets, removes nothing itself and wakes the chain, whose prune steps remove them.
 */
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

t.test('finds unreferenced owned networks and secrets on two looks and wakes the chain, whose prune steps remove them, nothing else', async (t) => {
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
  const triggers: string[] = [];
  const gc = new GarbageController({
    docker,
    log: silentLogger(),
    desired: () => ({ cluster, networks: [`${cluster}-gw`] }),
    busy: () => busy,
    trigger: (reason) => void triggers.push(reason),
    intervalMs: 1000,
    graceMs: 0,
  });
  const signal = new AbortController().signal;
  t.equal(await gc.reconcile(signal), 0, 'first look only marks');
  busy = true;
  t.equal(await gc.reconcile(signal), 0, 'nothing while a chain run is going on');
  busy = false;
  t.equal(await gc.reconcile(signal), 2, 'second look finds the orphaned network and secret');
  t.equal(triggers.length, 1, 'and wakes the chain once');
  t.match(triggers[0], `network ${cluster}-old`);
  t.match(triggers[0], `secret ${cluster}-old`);
  t.ok(await exists('network', orphanNet), 'the controller removed nothing itself');
  t.ok(await exists('secret', orphanSecret));

  // The run the trigger wakes: the chain's prune steps plan the removals, a dry run applies nothing.
  const doc = { apiVersion: 'coreflow/v1', cluster: { name: cluster }, networks: { gateway: { name: `${cluster}-gw` }, internal: { name: `${cluster}-int` } }, baseServices: { coretraffic: { enabled: false }, corelog: { enabled: false }, corestore: { enabled: false } }, services: [] };
  const plan = await runOnce(docker, doc, { dryRun: true });
  const planned = plan.steps.flatMap((step) => step.actions).filter((a) => a.type === 'delete' && a.status === 'planned').map((a) => `${a.kind} ${a.name}`);
  t.ok(planned.includes(`network ${cluster}-old`) && planned.includes(`secret ${cluster}-old`), `planned: ${planned.join(', ')}`);
  t.ok(await exists('network', orphanNet), 'a dry run removes nothing');
  await runOnce(docker, doc);
  t.notOk(await exists('network', orphanNet), 'the chain removed the orphaned network');
  t.notOk(await exists('secret', orphanSecret), 'and the orphaned secret');
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

t.test('nothing counts as garbage without a desired state, within the grace period, or that the chain keeps', async (t) => {
  const young = await secret(`${cluster}-young`, ownershipLabels(cluster, 'secret', 'h'));
  const signal = new AbortController().signal;
  const triggers: string[] = [];
  const trigger = (reason: string) => void triggers.push(reason);
  const kept = new GarbageController({ docker, log: silentLogger(), desired: () => ({ cluster, networks: [`${cluster}-gw`, `${cluster}-int`] }), keep: () => new Set([`secret/${cluster}-young`]), busy: () => false, trigger, intervalMs: 1000, graceMs: 0 });
  await kept.reconcile(signal);
  t.equal(await kept.reconcile(signal), 0, 'a secret the last run kept as desired is not garbage');
  const none = new GarbageController({ docker, log: silentLogger(), desired: () => undefined, busy: () => false, trigger, intervalMs: 1000, graceMs: 0 });
  await none.reconcile(signal);
  t.equal(await none.reconcile(signal), 0);
  const graced = new GarbageController({ docker, log: silentLogger(), desired: () => ({ cluster, networks: [] }), busy: () => false, trigger, intervalMs: 1000, graceMs: 3_600_000 });
  await graced.reconcile(signal);
  t.equal(await graced.reconcile(signal), 0);
  t.same(triggers, [], 'the chain was never woken');
  t.ok(await exists('secret', young));
});
