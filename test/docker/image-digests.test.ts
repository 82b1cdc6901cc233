import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { ImageResolver } from '../../ts/docker/image-resolver.ts';
import { RegistryClient, type RegistryRequest } from '../../ts/docker/registry-client.ts';
import { EventBus, type CoreflowEvent } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { buildStatus } from '../../ts/observe/status.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import { runEventsObserver } from '../../ts/reconcile/run-events.ts';
import type { ActionResult, RunResult } from '../../ts/reconcile/types.ts';
import { formatResult } from '../../ts/cli/print-result.ts';
import { pushVariant, registryCredentials, removePulledImages, startRegistryRelay } from '../helpers/registry.ts';
import { cleanupCluster, connect, load, settled, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

const command = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"];

t.test('tags pinned to digests on the swarm, through a registry that can go away', async (t) => {
  const { docker, calls } = await connect();
  const creds = await registryCredentials();
  const relay = await startRegistryRelay();
  const ref = `${relay.host}/${uniqueName('cfdigest')}:stable`;
  const doc = testDoc('dig');
  const id = doc.cluster.name;
  t.teardown(async () => {
    await cleanupCluster(docker, id);
    await relay.stop();
    await removePulledImages(ref.split(':').slice(0, 2).join(':'));
  });
  const digestA = await pushVariant(ref, `A ${id}`);

  const requests: RegistryRequest[] = [];
  const resolver = new ImageResolver({ client: new RegistryClient({ timeoutMs: 3000, onRequest: (r) => requests.push(r) }) });
  const bus = new EventBus();
  const events: CoreflowEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const spec = {
    ...doc,
    images: { resolve: 'always' },
    registries: [
      { id: 'good', url: relay.host, username: creds.username, password: creds.password },
      { id: 'wrong', url: relay.host, username: creds.username, password: `${creds.password}-wrong` },
    ],
    services: [
      { name: `${id}-app`, image: ref.slice(relay.host.length + 1), registry: 'good', command },
      { name: `${id}-wrong`, image: ref.slice(relay.host.length + 1), registry: 'wrong', command },
      // Preloaded on the node only, as on an air-gapped swarm.
      { name: `${id}-local`, image: 'coreflow-test/busybox:1', images: { resolve: 'never' }, command },
    ],
  };
  const loaded = load(spec);
  const reconciler = new Reconciler({ steps: defaultSteps(docker, { images: resolver }), desired: () => loaded, log: silentLogger(), observer: runEventsObserver(bus) });
  const run = async (reason: string): Promise<RunResult> => (await reconciler.trigger(reason))!;
  const action = (r: RunResult, name: string): ActionResult => r.steps.find((s) => s.kind === 'services')!.actions.find((a) => a.name === `${id}-${name}`)!;
  const image = async () => (await docker.getService(`${id}-app`).inspect()).Spec.TaskTemplate.ContainerSpec.Image as string;

  // Apply: the service runs the tag pinned to A; wrong credentials fail that service alone.
  const first = await run('apply');
  t.equal(action(first, 'app').status, 'succeeded');
  t.equal(await image(), `${ref}@${digestA}`, 'created as image:tag@sha256:<A>');
  t.equal(action(first, 'wrong').status, 'failed');
  t.equal(action(first, 'wrong').code, 'COREFLOW_ERR_REGISTRY_AUTH');
  t.match(action(first, 'wrong').error, `cannot pull ${ref}: registry wrong rejected the configured credentials`);
  t.equal(action(first, 'local').status, 'succeeded', 'the other services deploy');
  t.equal(first.status, 'partial');
  t.notOk(JSON.stringify(first).includes(creds.password), 'no password in the result');
  const names = (await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } })).map((s) => s.Spec!.Name).sort();
  t.same(names, [`${id}-app`, `${id}-local`], 'nothing deployed for the service with wrong credentials');
  const serviceId = (await docker.getService(`${id}-app`).inspect()).ID as string;
  await settled(docker, id);

  // Nothing re-pushed, no check due: zero Docker writes and no registry request.
  requests.length = 0;
  calls.reset();
  const quiet = await run('no-op');
  t.equal(calls.writes(), 0, 'a no-op run makes zero Docker writes');
  t.equal(requests.length, 0, 'answers are kept between checks');
  t.equal(action(quiet, 'app').type, 'skip');

  // A check with nothing re-pushed: one request per distinct image and credentials, still no write.
  resolver.expire();
  calls.reset();
  const checked = await run('image check');
  t.equal(calls.writes(), 0, 'a check that finds the same digest writes nothing');
  t.equal(requests.filter((r) => r.code === 200).length, 1, 'one manifest request for the image');
  t.equal(action(checked, 'app').type, 'skip');

  // B pushed under the same tag: the next check updates the service in place.
  const digestB = await pushVariant(ref, `B ${id}`);
  t.not(digestB, digestA);
  resolver.expire([ref]);
  const rolled = await run('image check');
  const up = action(rolled, 'app');
  t.equal(up.type, 'update');
  t.equal(up.status, 'succeeded');
  t.equal(up.reason, 'spec changed', 'a digest change is a change of the desired spec');
  t.same(up.diff, [`image: ${ref}@${digestA} -> @${digestB}`]);
  t.match(formatResult(rolled), `~ ${id}-app`);
  t.match(formatResult(rolled), `image: ${ref}@${digestA} -> @${digestB}`);
  const after = await docker.getService(`${id}-app`).inspect();
  t.equal(after.ID, serviceId, 'updated in place: same service ID');
  t.equal(after.Spec.TaskTemplate.ContainerSpec.Image, `${ref}@${digestB}`);
  await waitFor('a task of B running', async () => {
    const tasks = await docker.listTasks({ filters: { service: [`${id}-app`], 'desired-state': ['running'] } });
    return tasks.length > 0 && tasks.every((x) => x.Status?.State === 'running' && x.Spec?.ContainerSpec?.Image === `${ref}@${digestB}`);
  }, 60_000);
  await settled(docker, id);

  // A digest set by hand is drift: healed back to the tag's digest.
  const live = await docker.getService(`${id}-app`).inspect();
  await docker.getService(`${id}-app`).update({ ...live.Spec, version: live.Version.Index, TaskTemplate: { ...live.Spec.TaskTemplate, ContainerSpec: { ...live.Spec.TaskTemplate.ContainerSpec, Image: `${ref}@${digestA}` } } });
  const healed = await run('drift');
  t.match(action(healed, 'app').reason, 'drifted');
  t.equal(await image(), `${ref}@${digestB}`, 'the hand-set digest is healed');
  await settled(docker, id);

  // Registry gone: the check changes nothing and warns in the result, the status and the events.
  await relay.stop();
  resolver.expire();
  events.length = 0;
  calls.reset();
  const down = await run('image check');
  t.equal(calls.writes(), 0, 'an unreachable registry changes nothing');
  const warned = action(down, 'app');
  t.equal(warned.type, 'skip');
  t.equal(warned.warningCode, 'COREFLOW_ERR_REGISTRY_UNREACHABLE');
  t.match(warned.warning, `keeping ${digestB}`);
  t.equal(await image(), `${ref}@${digestB}`);
  const status = buildStatus({ result: down, health: new Map(), waiting: new Set(), busy: false, controllers: [] });
  t.match(status.objects.find((o) => o.name === `${id}-app`)?.message, 'cannot check');
  t.ok(events.some((e) => e.type === 'warning' && e.name === `${id}-app` && e.code === 'COREFLOW_ERR_REGISTRY_UNREACHABLE'), 'a warning event');
  t.match(formatResult(down), 'cannot check');

  // Back again: the next check works, without warnings and without writes.
  await relay.start();
  resolver.expire();
  calls.reset();
  const back = await run('image check');
  t.equal(action(back, 'app').warning, undefined);
  t.equal(action(back, 'app').type, 'skip');
  t.equal(calls.writes(), 0);
  const everything = JSON.stringify({ events, status, results: [first, quiet, checked, rolled, healed, down, back] });
  t.notOk(everything.includes(creds.password), 'no registry password in results, status or events');
});
