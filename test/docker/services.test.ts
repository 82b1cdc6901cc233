import t from 'tap';
import { LABEL_HASH } from '../../ts/docker/labels.ts';
import { listLiveServices, updateService } from '../../ts/docker/services.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { cleanupCluster, connect, load, runOnce, TEST_IMAGE, testDoc } from '../helpers/swarm.ts';

const { docker, calls } = await connect();
const doc = testDoc('svc');
const id = doc.cluster.name;
doc.services = [{ name: `${id}-a`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0, environment: { V: '1' } }];
t.teardown(() => cleanupCluster(docker, id));

t.test('an update at a stale version is retried at the fresh one: same ID, change applied', async (t) => {
  await runOnce(docker, doc);
  const [live] = (await listLiveServices(docker)).filter((s) => s.name === `${id}-a`);
  // Someone else updates the service after we observed it.
  const svc = docker.getService(live!.id);
  const fresh = await svc.inspect();
  await svc.update({ ...fresh.Spec, version: fresh.Version.Index, Labels: { ...fresh.Spec.Labels, touched: 'yes' } });

  const changed = structuredClone(doc) as any;
  changed.services[0].environment = { V: '2' };
  const [desired] = desiredWorkloads(load(changed).spec);
  calls.reset();
  await updateService(docker, live!.id, live!.version, desired!);
  t.equal(calls.snapshot()['POST /services/{id}/update'], 2, 'one conflict, one retry');
  t.equal(calls.snapshot()['GET /services/{id}'], 1, 'inspected once to get the fresh version');
  const after = await svc.inspect();
  t.equal(after.ID, live!.id);
  t.same(after.Spec.TaskTemplate.ContainerSpec.Env, ['V=2']);
  t.equal(after.Spec.Labels[LABEL_HASH], desired!.hash);
});

t.test('a disabled base service that coreflow owns is removed; the others stay', async (t) => {
  const withBase = structuredClone(doc) as any;
  withBase.baseServices.corelog = { enabled: true, name: `${id}-corelog`, image: TEST_IMAGE, command: ['sleep', '3600'] };
  const first = await runOnce(docker, withBase);
  t.ok(first.steps.find((s) => s.kind === 'base-services')!.actions.some((a) => a.type === 'create' && a.name === `${id}-corelog`));
  withBase.baseServices.corelog.enabled = false;
  const second = await runOnce(docker, withBase);
  const base = second.steps.find((s) => s.kind === 'base-services')!;
  t.same(base.actions.map((a) => [a.type, a.name, a.status]), [['delete', `${id}-corelog`, 'succeeded']]);
  const names = (await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } })).map((s) => s.Spec!.Name);
  t.same(names, [`${id}-a`]);
});
