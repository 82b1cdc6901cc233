import t from 'tap';
import { LABEL_HASH } from '../../ts/docker/labels.ts';
import type { DesiredService, LiveService } from '../../ts/docker/service-model.ts';
import { planServices } from '../../ts/docker/service-plan.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

const cluster = 'demo';

function spec(services: unknown[], extra: Record<string, unknown> = {}) {
  return validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: cluster }, services, ...extra }).spec;
}

/** What Docker would store for a desired service, plus Docker's own defaults. */
function liveOf(d: DesiredService, id = `id-${d.name}`): LiveService {
  const stored = structuredClone(d.spec) as unknown as Record<string, unknown> & { TaskTemplate: Record<string, unknown> };
  stored.TaskTemplate.ForceUpdate = 0;
  stored.TaskTemplate.Runtime = 'container';
  return { id, name: d.name, version: 10, labels: d.spec.Labels, spec: stored };
}

const opts = { cluster, role: 'workload' as const, guard: true, allowMassDeletion: false };
const three = [
  { name: 'a', image: 'x:1', environment: { A: '1' } },
  { name: 'b', image: 'x:1' },
  { name: 'c', image: 'x:1' },
];

t.test('nothing live: every service is created', async (t) => {
  const actions = planServices(desiredWorkloads(spec(three)), [], opts);
  t.same(actions.map((a) => [a.type, a.name, a.reason]), [
    ['create', 'a', 'not present'],
    ['create', 'b', 'not present'],
    ['create', 'c', 'not present'],
  ]);
});

t.test('live as desired (with Docker defaults added): all skipped as unchanged', async (t) => {
  const desired = desiredWorkloads(spec(three));
  const actions = planServices(desired, desired.map((d) => liveOf(d)), opts);
  t.same(actions.map((a) => [a.type, a.reason]), [['skip', 'unchanged'], ['skip', 'unchanged'], ['skip', 'unchanged']]);
});

t.test('a changed env updates only that service, naming the field', async (t) => {
  const live = desiredWorkloads(spec(three)).map((d) => liveOf(d));
  const changed = structuredClone(three);
  changed[0]!.environment = { A: '2' };
  const actions = planServices(desiredWorkloads(spec(changed)), live, opts);
  const a = actions.find((x) => x.name === 'a')!;
  t.equal(a.type, 'update');
  t.equal(a.reason, 'spec changed');
  t.same(a.diff, ['ContainerSpec.Env']);
  t.same(actions.filter((x) => x.type !== 'skip').map((x) => x.name), ['a']);
});

t.test('out-of-band edits of fields we set are drift; the hash alone does not hide them', async (t) => {
  const desired = desiredWorkloads(spec(three));
  const live = desired.map((d) => liveOf(d));
  (live[1]!.spec as { Mode: unknown }).Mode = { Replicated: { Replicas: 5 } };
  const actions = planServices(desired, live, opts);
  const b = actions.find((x) => x.name === 'b')!;
  t.equal(b.type, 'update');
  t.match(b.reason, /drifted/);
  t.same(b.diff, ['Mode.Replicated.Replicas']);
});

t.test('not ours: a same-named service without our labels is never touched', async (t) => {
  const desired = desiredWorkloads(spec(three));
  const foreign: LiveService = { id: 'x', name: 'a', version: 1, labels: {}, spec: { Name: 'a' } };
  const actions = planServices(desired, [foreign], opts);
  const a = actions.find((x) => x.name === 'a')!;
  t.equal(a.type, 'skip');
  t.equal(a.blocked?.status, 'failed');
  t.match(a.blocked?.reason, /not owned by coreflow/);
});

t.test('prune: owned and no longer desired is deleted; foreign and other clusters are not', async (t) => {
  const all = desiredWorkloads(spec([...three, { name: 'd', image: 'x:1' }]));
  const live = all.map((d) => liveOf(d));
  const otherCluster = { ...liveOf(all[0]!, 'o'), name: 'other', labels: { ...all[0]!.spec.Labels, 'coreflow.cluster': 'elsewhere' } };
  const foreign: LiveService = { id: 'f', name: 'handmade', version: 1, labels: { team: 'x' }, spec: { Name: 'handmade' } };
  const actions = planServices(desiredWorkloads(spec(three)), [...live, otherCluster, foreign], opts);
  t.same(actions.filter((a) => a.type === 'delete').map((a) => [a.name, a.blocked]), [['d', undefined]]);
});

t.test('mass-deletion guard: removing all or more than half blocks every deletion unless confirmed', async (t) => {
  const live = desiredWorkloads(spec(three)).map((d) => liveOf(d));
  const none = planServices([], live, opts).filter((a) => a.type === 'delete');
  t.equal(none.length, 3);
  t.ok(none.every((a) => a.blocked?.status === 'blocked' && /would remove 3 of 3 owned workload services/.test(a.blocked.reason)));
  const two = planServices(desiredWorkloads(spec([three[0]])), live, opts).filter((a) => a.type === 'delete');
  t.ok(two.every((a) => a.blocked?.status === 'blocked'), 'two of three is more than half');
  const one = planServices(desiredWorkloads(spec([three[0], three[1]])), live, opts).filter((a) => a.type === 'delete');
  t.same(one.map((a) => [a.name, a.blocked]), [['c', undefined]], 'one of three is allowed');
  const confirmed = planServices([], live, { ...opts, allowMassDeletion: true }).filter((a) => a.type === 'delete');
  t.ok(confirmed.every((a) => a.blocked === undefined));
});

t.test('a bad record fails alone; a record of another category is skipped and kept', async (t) => {
  const s = spec([
    { name: 'ok', image: 'x:1' },
    { name: 'noimage' },
    { name: 'badbundle', image: 'x:1', secretBundleId: 'missing' },
    { name: 'noport', image: 'x:1', domains: [{ name: 'a.example.com' }] },
    { name: 'basey', image: 'x:1', serviceCategory: 'base' },
  ]);
  const desired = desiredWorkloads(s);
  const basey = liveOf(desiredWorkloads(spec([{ name: 'basey', image: 'x:1' }]))[0]!);
  const actions = planServices(desired, [basey], opts);
  const by = Object.fromEntries(actions.map((a) => [a.name, a]));
  t.equal(by.ok!.type, 'create');
  t.equal(by.ok!.blocked, undefined);
  t.equal(by.noimage!.blocked?.reason, 'no image: set image');
  t.equal(by.badbundle!.blocked?.reason, 'unknown secret bundle "missing"');
  t.equal(by.noport!.blocked?.reason, 'domain a.example.com has no port and ports.web is not set');
  t.equal(by.basey!.type, 'skip');
  t.match(by.basey!.reason, /serviceCategory is "base"/);
  t.notOk(actions.some((a) => a.type === 'delete'), 'the excluded record is not pruned');
});

t.test('the hash label changes with the spec and only with it', async (t) => {
  const a1 = desiredWorkloads(spec(three))[0]!;
  const a2 = desiredWorkloads(spec(three))[0]!;
  t.equal(a1.spec.Labels[LABEL_HASH], a2.spec.Labels[LABEL_HASH]);
  const changed = structuredClone(three);
  changed[0]!.environment = { A: '3' };
  t.not(desiredWorkloads(spec(changed))[0]!.hash, a1.hash);
});
