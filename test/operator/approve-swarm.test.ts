import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { isCoreflowError } from '../../ts/errors.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import type { PendingPlan } from '../../ts/reconcile/approvals.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import type { LoadedSpec } from '../../ts/spec/parse.ts';
import { cleanupCluster, connect, load, settled, TEST_IMAGE, testDoc, uniqueName, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * Approve before apply against the real swarm: the engine in approve mode on its own Docker
 * connection, whose writes are counted.
 */
const { docker, calls } = await connect();
const doc = testDoc('cfapp');
const cluster = doc.cluster.name;
const web = uniqueName('cfapp-web');
const api = uniqueName('cfapp-api');
const MARKER = 'marker-secret-value-5d1c';
doc.secretBundles = [{ id: 'app', values: { TOKEN: MARKER } }];
const svc = (name: string, mode: string) => ({ name, image: TEST_IMAGE, command: WEB_COMMAND, environment: { MODE: mode }, resources: { memoryLimitMB: 32 }, ...(name === web ? { secretBundleId: 'app' } : {}) });
t.teardown(() => cleanupCluster(docker, cluster));

let desired: LoadedSpec = load({ ...doc, services: [svc(web, 'v1'), svc(api, 'v1')] });
const plans: (string | undefined)[] = [];
const reconciler = new Reconciler({ steps: defaultSteps(docker), desired: () => desired, log: silentLogger(), applyMode: 'approve', onPlan: (p) => plans.push(p?.id) });

async function envOf(name: string): Promise<string[] | undefined> {
  const [s] = (await docker.listServices({ filters: { name: [name] } })).filter((x) => x.Spec?.Name === name) as any[];
  return s?.Spec.TaskTemplate.ContainerSpec.Env;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

t.test('a run that would write stops at its plan; approved, exactly that plan is applied', async (t) => {
  calls.reset();
  const waiting = (await reconciler.trigger('start'))!;
  t.ok(waiting.plan, 'the run waits for approval');
  t.equal(waiting.dryRun, true);
  t.equal(calls.writes(), 0, 'nothing written before the approval');
  t.equal(await envOf(web), undefined, 'not created');
  const plan = reconciler.pendingPlan!;
  t.equal(plan.id, waiting.plan!.id);
  t.same(plan.changes.map((c) => `${c.type} ${c.kind}`).sort(), ['create network', 'create network', 'create secret', 'create service', 'create service']);
  t.notMatch(JSON.stringify(plan), MARKER, 'the plan carries no secret value');
  t.notMatch(JSON.stringify(waiting), MARKER, 'nor does the waiting run');

  // Another wake-up (a resync) on the same state keeps the same plan: an approval in flight stays good.
  const again = (await reconciler.trigger('resync'))!;
  t.equal(again.plan?.id, plan.id);

  const applied = await reconciler.approve(plan.id);
  t.equal(applied.dryRun, false);
  t.equal(applied.status, 'succeeded');
  t.same(applied.summary, { creates: 5, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 });
  t.same(await envOf(web), ['MODE=v1']);
  t.equal(reconciler.pendingPlan, undefined, 'nothing waits any more');
  await settled(docker, cluster);
  const noop = (await reconciler.trigger('after'))!;
  t.equal(noop.plan, undefined, 'a run with nothing to write needs no approval');
  t.equal(noop.dryRun, false);
});

t.test('a pushed change waits; an approval of a stale plan is refused and a new plan is made', async (t) => {
  desired = load({ ...doc, services: [svc(web, 'v2'), svc(api, 'v1')] });
  const waiting = (await reconciler.trigger('desired state changed'))!;
  const p2 = reconciler.pendingPlan!;
  t.equal(waiting.plan?.id, p2.id);
  t.same(p2.changes.map((c) => `${c.type} ${c.name}`), [`update ${web}`]);
  t.same(await envOf(web), ['MODE=v1'], 'not applied before the approval');

  // The desired state moves on before the approval (no run in between).
  desired = load({ ...doc, services: [svc(web, 'v3'), svc(api, 'v3')] });
  calls.reset();
  const err = await rejection(reconciler.approve(p2.id));
  t.ok(isCoreflowError(err, 'COREFLOW_ERR_PLAN_STALE'), String(err));
  const p3: PendingPlan = reconciler.pendingPlan!;
  t.not(p3.id, p2.id, 'a new plan');
  t.match(String((err as Error).message), p3.id, 'the error names the new plan');
  t.equal(calls.writes(), 0, 'nothing applied from the stale plan');
  t.same(await envOf(web), ['MODE=v1']);
  t.same(p3.changes.map((c) => `${c.type} ${c.name}`).sort(), [`update ${api}`, `update ${web}`].sort());

  // The older plan again: stale too (superseded), and a plan id that never was: unknown.
  t.ok(isCoreflowError(await rejection(reconciler.approve(p2.id)), 'COREFLOW_ERR_PLAN_STALE'));
  t.ok(isCoreflowError(await rejection(reconciler.approve('plan-nope')), 'COREFLOW_ERR_PLAN_UNKNOWN'));
  t.equal(calls.writes(), 0);

  calls.reset();
  const applied = await reconciler.approve(p3.id);
  t.equal(applied.status, 'succeeded');
  t.same(calls.snapshot()['POST /services/{id}/update'], 2, 'exactly the two approved updates');
  t.equal(calls.writes(), 2);
  t.same(await envOf(web), ['MODE=v3']);
  t.same(await envOf(api), ['MODE=v3']);
  await settled(docker, cluster);
});

t.test('the mass-deletion guard is confirmed by approving its plan (auto mode)', async (t) => {
  desired = load({ ...doc, services: [] });
  const auto = new Reconciler({ steps: defaultSteps(docker), desired: () => desired, log: silentLogger(), applyMode: 'auto' });
  const blocked = (await auto.trigger('removal'))!;
  t.ok(blocked.plan, 'the guarded deletions wait as a plan');
  const plan = auto.pendingPlan!;
  t.equal(plan.why, 'mass-deletion');
  t.same(plan.changes.map((c) => `${c.type} ${c.name} ${c.guarded}`).sort(), [`delete ${api} true`, `delete ${web} true`].sort());
  t.ok(await envOf(web), 'nothing removed yet');
  const applied = await auto.approve(plan.id);
  const removed = applied.steps.find((st) => st.kind === 'services')!.actions.filter((a) => a.type === 'delete' && a.status === 'succeeded');
  t.equal(removed.length, 2, 'approving confirms the deletions');
  t.equal(await envOf(web), undefined);
  t.equal(auto.pendingPlan, undefined);
});
