import t from 'tap';
import { encodeRegistryAuth, imageFor, imageReferenceProblem, registryFor } from '../../ts/docker/registry-auth.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { validateSpec } from '../../ts/spec/parse.ts';
import { pushTestImage, REGISTRY, registryCredentials, untag } from '../helpers/registry.ts';
import { cleanupCluster, connect, runOnce, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

t.test('image and credentials resolution (pure)', async (t) => {
  const spec = validateSpec({
    apiVersion: 'coreflow/v1',
    cluster: { name: 'c1' },
    registries: [
      { id: 'private', url: 'reg.example.com:5000', username: 'u', password: 'p+/?' },
      { id: 'anon', url: 'public.example.com' },
      { id: 'half', url: 'half.example.com', username: 'u' },
    ],
    services: [
      { name: 'bare', image: 'team/app:1', registry: 'private' },
      { name: 'byhost', image: 'reg.example.com:5000/team/app:2' },
      { name: 'hub', image: 'nginx:1' },
      { name: 'anon', image: 'app:3', registry: 'anon' },
      { name: 'half', image: 'app:3', registry: 'half' },
      { name: 'unknown', image: 'app:3', registry: 'nope' },
    ],
  }).spec;
  const [bare, byhost, hub] = spec.services;
  t.equal(imageFor(spec, bare!), 'reg.example.com:5000/team/app:1', 'the registry host goes in front');
  t.equal(registryFor(spec, byhost!)?.id, 'private', 'matched by the image host');
  t.equal(registryFor(spec, hub!), undefined);
  const auth = encodeRegistryAuth(spec.registries[0]!)!;
  t.notOk(/[+/]/.test(auth), 'base64url');
  t.same(JSON.parse(Buffer.from(auth.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString()), { username: 'u', password: 'p+/?', serveraddress: 'reg.example.com:5000' });
  const d = desiredWorkloads(spec);
  t.equal(d[0]!.registryAuth, auth);
  t.same(d[0]!.pullCheck, { image: 'reg.example.com:5000/team/app:1', registry: 'private', withCredentials: true });
  t.equal(d[2]!.pullCheck, undefined, 'no declared registry: no check');
  t.equal(d[3]!.registryAuth, undefined, 'a registry without credentials sends none');
  t.equal(d[3]!.pullCheck!.withCredentials, false);
  t.match(d[4]!.invalid, 'registry "half" has a username but no password');
  t.match(d[5]!.invalid, 'unknown registry "nope"');
  t.notOk(JSON.stringify(d.map((x) => x.spec)).includes('p+/?'), 'the password is not in any service spec');
});

t.test('malformed image references fail before anything is applied', async (t) => {
  for (const ok of ['nginx:1.27-alpine', 'ghcr.io/example/api:2.4.1', '127.0.0.1:5000/team/app:1', 'localhost/app', `app@sha256:${'0'.repeat(64)}`]) {
    t.equal(imageReferenceProblem(ok), undefined, ok);
  }
  t.match(imageReferenceProblem('127.0.0.1:5000/app:1-x:2'), 'bad tag');
  t.match(imageReferenceProblem('Team/App:1'), 'lowercase');
  const spec = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, services: [{ name: 'x', image: 'Team/App:1' }] }).spec;
  t.match(desiredWorkloads(spec)[0]!.invalid, 'invalid image reference "Team/App:1"');
});

t.test('on the swarm with the private registry', async (t) => {
  const conn = await connect();
  const { docker, calls } = conn;
  const creds = await registryCredentials();
  const ref = await pushTestImage(uniqueName('cfreg'));
  const repo = ref.slice(REGISTRY.length + 1);
  const doc = testDoc('reg');
  const id = doc.cluster.name;
  t.teardown(async () => {
    await cleanupCluster(docker, id);
    await untag(ref);
  });
  const command = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"];
  const spec = () => ({
    ...doc,
    registries: [
      { id: 'good', url: REGISTRY, username: creds.username, password: creds.password },
      { id: 'wrong', url: REGISTRY, username: creds.username, password: `${creds.password}-wrong` },
      { id: 'none', url: REGISTRY },
    ],
    services: [
      { name: `${id}-good`, image: repo, registry: 'good', command },
      { name: `${id}-wrong`, image: repo, registry: 'wrong', command },
      { name: `${id}-none`, image: repo, registry: 'none', command },
      { name: `${id}-missing`, image: `${repo.split(':')[0]}-missing:1`, registry: 'good', command },
    ],
  });

  const r = await runOnce(docker, spec());
  const actions = new Map(r.steps.find((s) => s.kind === 'services')!.actions.map((a) => [a.name, a]));
  t.equal(actions.get(`${id}-good`)!.status, 'succeeded');
  t.equal(actions.get(`${id}-wrong`)!.status, 'failed');
  t.match(actions.get(`${id}-wrong`)!.error, `cannot pull ${ref}: registry wrong rejected the configured credentials`);
  t.equal(actions.get(`${id}-none`)!.status, 'failed');
  t.match(actions.get(`${id}-none`)!.error, 'registry none needs credentials and none are configured');
  t.equal(actions.get(`${id}-missing`)!.status, 'failed');
  t.match(actions.get(`${id}-missing`)!.error, 'not found in registry good');
  t.equal(r.status, 'partial');
  t.notOk(JSON.stringify(r).includes(creds.password), 'no password in the result');

  const names = (await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } })).map((s) => s.Spec!.Name).sort();
  t.same(names, [`${id}-good`], 'nothing is deployed for the failed services');
  const inspect = JSON.stringify(await docker.getService(`${id}-good`).inspect());
  t.notOk(inspect.includes(creds.password), 'the password is not in the service as Docker shows it');
  await waitFor('the private image pulled and running', async () => {
    const tasks = await docker.listTasks({ filters: { service: [`${id}-good`] } });
    return tasks.some((x) => x.Status?.State === 'running');
  }, 60_000);

  // A run where nothing changed asks no registry: the check runs only before a create or update.
  const good = { ...spec(), services: [spec().services[0]] };
  calls.reset();
  const again = await runOnce(docker, good);
  t.equal(again.status, 'succeeded', JSON.stringify(again.steps));
  t.equal(calls.writes(), 0);
  t.notOk(Object.keys(calls.snapshot()).some((op) => op.includes('/distribution/')), JSON.stringify(calls.snapshot()));
});
