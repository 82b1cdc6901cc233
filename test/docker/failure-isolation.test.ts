import t from 'tap';
import { REGISTRY } from '../helpers/registry.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/**
 * Fail small: a record with a missing image, an unknown secret bundle, rejected registry
 * credentials or incomplete domain data fails alone, with its reason; the others deploy, and a
 * running service whose record breaks keeps running as it was.
 */
t.test('broken services fail alone; the others proceed', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('iso');
  const id = doc.cluster.name;
  t.teardown(() => cleanupCluster(docker, id));
  const command = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"];
  const base = {
    ...doc,
    secretBundles: [{ id: 'app', values: { KEY: 'value' } }],
    registries: [{ id: 'wrong', url: REGISTRY, username: 'nobody', password: 'not-the-password' }],
  };
  const ok = { name: `${id}-ok`, image: TEST_IMAGE, command, secretBundleId: 'app', environment: { V: '1' } };
  const changer = { name: `${id}-changer`, image: TEST_IMAGE, command };
  const broken = [
    { name: `${id}-noimage`, command },
    { name: `${id}-nobundle`, image: TEST_IMAGE, command, secretBundleId: 'missing-bundle' },
    { name: `${id}-badcreds`, image: 'team/app:1', registry: 'wrong', command },
    { name: `${id}-nodomainport`, image: TEST_IMAGE, command, domains: [{ name: 'app.example.com' }] },
  ];

  let r = await runOnce(docker, { ...base, services: [ok, changer, ...broken] });
  const actions = new Map(r.steps.find((s) => s.kind === 'services')!.actions.map((a) => [a.name, a]));
  t.equal(r.status, 'partial');
  t.equal(actions.get(ok.name)!.status, 'succeeded');
  t.equal(actions.get(changer.name)!.status, 'succeeded');
  const reasons: Record<string, string> = {
    noimage: 'no image: set image',
    nobundle: 'unknown secret bundle "missing-bundle"',
    badcreds: 'registry wrong rejected the configured credentials',
    nodomainport: 'domain app.example.com has no port and ports.web is not set',
  };
  for (const [suffix, reason] of Object.entries(reasons)) {
    const a = actions.get(`${id}-${suffix}`)!;
    t.equal(a.status, 'failed', `${suffix} failed`);
    t.match(a.error, reason, `${suffix}: ${reason}`);
  }
  const names = (await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } })).map((s) => s.Spec!.Name).sort();
  t.same(names, [changer.name, ok.name], 'only the good records were deployed');
  t.equal((await docker.listSecrets({ filters: { label: [`coreflow.cluster=${id}`] } })).length, 1, 'no secret for the broken record');
  await waitFor('the good service running', async () => {
    const tasks = await docker.listTasks({ filters: { service: [ok.name] } });
    return tasks.some((x) => x.Status?.State === 'running');
  });

  // The changer's record breaks while ok changes: ok is updated, changer stays as it runs.
  const before = await docker.getService(changer.name).inspect();
  r = await runOnce(docker, { ...base, services: [{ ...ok, environment: { V: '2' } }, { ...changer, secretBundleId: 'missing-bundle', image: 'other:2' }] });
  const second = new Map(r.steps.find((s) => s.kind === 'services')!.actions.map((a) => [a.name, a]));
  t.equal(second.get(ok.name)!.status, 'succeeded');
  t.equal(second.get(ok.name)!.type, 'update');
  t.equal(second.get(changer.name)!.status, 'failed');
  const after = await docker.getService(changer.name).inspect();
  t.equal(after.Version.Index, before.Version.Index, 'the broken record changed nothing');
  t.equal(after.Spec.TaskTemplate.ContainerSpec.Image, TEST_IMAGE, 'nothing else deployed in its place');
  t.same((await docker.getService(ok.name).inspect()).Spec.TaskTemplate.ContainerSpec.Env, ['V=2']);
});
