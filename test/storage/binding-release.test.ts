import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { CorestoreClient } from '../../ts/storage/corestore-client.ts';
import { FakeCorestore } from '../fakes/corestore.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc } from '../helpers/swarm.ts';

/**
 * Releasing against the fake and the real swarm: never without the opt-in, never while the
 * service still runs, never past the mass-deletion guard; then exactly the removed service's.
 */
const { docker } = await connect();
const fake = await FakeCorestore.start();
const doc = testDoc('bndrel');
const id = doc.cluster.name;
t.teardown(async () => {
  await fake.close();
  await cleanupCluster(docker, id);
});
const keep = { name: `${id}-keep`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0, bindings: [{ type: 'database' }, { type: 'objectstorage' }] };
const gone = { name: `${id}-gone`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0, bindings: [{ type: 'database' }] };
const steps = (release: boolean) => defaultSteps(docker, { bindings: { provider: new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: { baseBackoffMs: 5 } }), release } });
const releases = () => fake.requests.filter((r) => r.method === 'DELETE').map((r) => r.path);

t.test('a removed service\'s binding is released only with the opt-in, once the service is gone', async (t) => {
  let r = await runOnce(docker, { ...doc, services: [keep, gone] }, { steps: steps(true) });
  t.equal(r.status, 'succeeded', JSON.stringify(r.steps));
  t.equal(fake.bindings().length, 3);

  r = await runOnce(docker, { ...doc, services: [keep] }, { steps: steps(false) });
  const kept = r.steps.find((s) => s.kind === 'binding-release')!.actions;
  t.match(kept, [{ name: `${gone.name}/database/${gone.name}`, type: 'skip', reason: /^kept: .*CORESTORE_RELEASE_BINDINGS=true/ }]);
  t.same(releases(), [], 'without the opt-in nothing is released');

  r = await runOnce(docker, { ...doc, services: [keep] }, { steps: steps(true) });
  t.same(releases(), [`/v1/bindings/database/${gone.name}`], 'released with the opt-in, its service being gone');
  t.same(fake.bindings().map((b) => b.owner.service).sort(), [keep.name, keep.name]);

  // Removing the last service is held by the services' mass-deletion guard: it keeps running, so its bindings stay.
  r = await runOnce(docker, { ...doc, services: [] }, { steps: steps(true) });
  t.equal(r.steps.find((s) => s.kind === 'services')!.actions[0]!.code, 'COREFLOW_ERR_MASS_DELETION');
  t.same(r.steps.find((s) => s.kind === 'binding-release')!.actions, [], 'nothing to release while the service runs');
  t.equal(fake.bindings().length, 2);

  // Confirmed: the service goes, and its bindings with it.
  r = await runOnce(docker, { ...doc, services: [] }, { steps: steps(true), confirmMassDeletion: true });
  t.same(r.steps.find((s) => s.kind === 'binding-release')!.actions.map((a) => [a.type, a.status]), [['delete', 'succeeded'], ['delete', 'succeeded']]);
  t.same(fake.bindings(), []);
});
