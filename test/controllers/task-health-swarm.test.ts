import t from 'tap';
import { TaskHealthController } from '../../ts/controllers/task-health.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/** Task health against the real swarm: a healthy service, then an update whose new tasks fail and pauses. */
const { docker } = await connect();
const doc = testDoc('cfth');
const name = uniqueName('cfth-web');
const service = (command: string[]) => ({ name, image: TEST_IMAGE, command, resources: { memoryLimitMB: 32 }, update: { failureAction: 'pause', monitorSeconds: 3 } });
t.teardown(() => cleanupCluster(docker, doc.cluster.name));

const bus = new EventBus();
const health = new TaskHealthController({ docker, cluster: () => doc.cluster.name, intervalMs: 1000, bus });
const healthOf = async () => (await health.reconcile(), health.health.get(name));

t.test('a running service is Healthy', async (t) => {
  doc.services = [service(WEB_COMMAND)];
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  const h = await waitFor('Healthy', async () => ((await healthOf())?.health === 'Healthy' ? health.health.get(name) : undefined), 30_000, 300);
  t.equal(h.message, '1/1 task(s) running');
});

t.test('an update whose tasks fail pauses and the service is Degraded with why', async (t) => {
  doc.services = [service(['sh', '-c', 'exit 1'])];
  const r = await runOnce(docker, doc);
  t.equal(r.summary.updates, 1, 'updated in place');
  const h = await waitFor('Degraded', async () => {
    const x = await healthOf();
    return x?.health === 'Degraded' && /update paused/.test(x.message ?? '') ? x : undefined;
  }, 60_000, 500);
  t.match(h.message, /update paused/);
  t.ok(bus.recent().some((e) => e.type === 'error' && e.name === name), 'reported on the bus once it turned Degraded');
});
