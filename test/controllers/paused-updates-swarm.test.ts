import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { decidePaused, PausedUpdatesController, type PausedService } from '../../ts/controllers/paused-updates.ts';
import { LABEL_HASH } from '../../ts/docker/labels.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { Holds } from '../../ts/reconcile/holds.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * The failure policy against the real swarm: an update whose tasks exit 1 pauses (failure action
 * pause, small monitor); under the rollback policy it is rolled back once it stayed paused for the
 * configured time (an injected clock stands in for the wait), same service ID, and the chain holds
 * the failed spec back instead of starting the same update again.
 */

const paused = (id: string, name: string, startedAt = 't1'): PausedService => ({ ID: id, Version: { Index: 1 }, Spec: { Name: name }, UpdateStatus: { State: 'paused', StartedAt: startedAt } });

t.test('decidePaused: reported once, rolled back after the configured time under rollback, never under pause', async (t) => {
  const seen = new Map<string, number>();
  const policy = (n: string) => (n === 'a' ? 'rollback' : 'pause');
  const services = [paused('1', 'a'), paused('2', 'b'), { ...paused('3', 'c'), UpdateStatus: { State: 'updating' } }];
  t.same(decidePaused(services, seen, 1000, policy, 60_000).map((d) => [d.service.Spec.Name, d.action]), [['a', 'report'], ['b', 'report']]);
  t.same(decidePaused(services, seen, 60_999, policy, 60_000), [], 'not yet due');
  t.same(decidePaused(services, seen, 61_000, policy, 60_000).map((d) => [d.service.Spec.Name, d.action]), [['a', 'rollback']], 'due: only the rollback policy acts');
  t.same(decidePaused([paused('1', 'a', 't2')], seen, 70_000, policy, 60_000).map((d) => d.action), ['report'], 'a new update of the same service counts afresh');
  t.same([...seen.keys()], ['1@t2'], 'ended pauses are forgotten');
});

t.test('a crash-looping update is rolled back after the configured time, and held', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('cfpu');
  const name = uniqueName('cfpu-svc');
  const service = (command: string[]) => ({
    name,
    image: TEST_IMAGE,
    command,
    resources: { memoryLimitMB: 32 },
    update: { failureAction: 'pause', monitorSeconds: 2 },
    restartPolicy: { delay: '1s' },
    onPausedUpdate: 'rollback',
  });
  t.teardown(() => cleanupCluster(docker, doc.cluster.name));

  doc.services = [service(['sleep', '100000'])];
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  const first = await docker.getService(name).inspect();
  await waitFor('first task running', async () => (await docker.listTasks({ filters: { service: [name], 'desired-state': ['running'] } })).some((x) => x.Status?.State === 'running'), 30_000);

  doc.services = [service(['sh', '-c', 'exit 1'])];
  const updated = await runOnce(docker, doc);
  t.equal(updated.summary.updates, 1, 'the failing update is applied in place');
  const failedHash = (await docker.getService(name).inspect()).Spec.Labels[LABEL_HASH];
  await waitFor('update paused', async () => (await docker.getService(name).inspect()).UpdateStatus?.State === 'paused', 60_000, 500);

  let clock = 1_000_000;
  const holds = new Holds();
  const bus = new EventBus();
  const rollbackAfterMs = 30_000;
  const controller = new PausedUpdatesController({
    docker,
    cluster: () => doc.cluster.name,
    // The service's onPausedUpdate (rollback) wins over the setting (pause here).
    policyOf: (n) => (doc.services as { name: string; onPausedUpdate?: 'pause' | 'rollback' }[]).find((s) => s.name === n)?.onPausedUpdate ?? 'pause',
    rollbackAfterMs,
    intervalMs: 1000,
    holds,
    bus,
    log: silentLogger(),
    now: () => clock,
  });

  await controller.reconcile();
  t.ok(bus.recent().some((e) => e.code === 'COREFLOW_ERR_UPDATE_PAUSED' && e.name === name), 'the pause is reported');
  clock += rollbackAfterMs - 1;
  await controller.reconcile();
  t.equal((await docker.getService(name).inspect()).UpdateStatus?.State, 'paused', 'not rolled back before the configured time');
  clock += 1;
  await controller.reconcile();
  const back = await waitFor('rolled back', async () => {
    const s = await docker.getService(name).inspect();
    return s.UpdateStatus?.State === 'rollback_completed' && s;
  }, 60_000, 500);
  t.equal(back.ID, first.ID, 'same service ID');
  t.same(back.Spec.TaskTemplate.ContainerSpec.Command, ['sleep', '100000'], 'the previous command runs again');
  t.ok(bus.recent().some((e) => e.code === 'COREFLOW_ERR_UPDATE_ROLLED_BACK' && e.name === name), 'the rollback is reported');
  t.equal(holds.get(`service/${name}`), failedHash, 'the failed desired state is held');

  // The chain leaves the held service alone (no new crash-looping update), reported as such.
  const steps = defaultSteps(docker, { heldServices: (n) => holds.get(`service/${n}`) });
  const plan = await runOnce(docker, doc, { steps });
  const action = plan.steps.flatMap((s) => s.actions).find((a) => a.name === name)!;
  t.equal(action.status, 'failed', 'reported as held, not applied');
  t.equal(action.code, 'COREFLOW_ERR_UPDATE_ROLLED_BACK');
  t.ok(action.terminal, 'not retried with backoff');
  t.equal((await docker.getService(name).inspect()).Version.Index, back.Version.Index, 'nothing was written');

  // A new desired state ends the hold: it is applied.
  doc.services = [service(['sleep', '200000'])];
  const fixed = await runOnce(docker, doc, { steps });
  t.equal(fixed.summary.updates, 1, 'a changed spec is applied');
  t.same((await docker.getService(name).inspect()).Spec.TaskTemplate.ContainerSpec.Command, ['sleep', '200000']);
});
