import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { cleanupCluster, connect, runOnce, settled, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

const run = promisify(execFile);
const conn = await connect();
const { docker, calls } = conn;

/** The bundled example, made runnable here: test images, unique names, free host ports. */
async function exampleDoc(): Promise<{ doc: any; id: string }> {
  const example = parse(await readFile(new URL('../../examples/cluster.yaml', import.meta.url), 'utf8')) as Record<string, any>;
  const base = testDoc('core');
  const id = base.cluster.name;
  const stateDir = await mkdtemp(join(tmpdir(), 'cf-corestore-'));
  const doc = {
    ...example,
    cluster: base.cluster,
    networks: base.networks,
    images: base.images,
    baseServices: {
      coretraffic: {
        name: `${id}-coretraffic`,
        image: TEST_IMAGE,
        command: ['sleep', '3600'],
        ports: [
          { published: 20000 + Math.floor(Math.random() * 20000), target: 7999, mode: 'host' },
          { published: 40000 + Math.floor(Math.random() * 5000), target: 8000, mode: 'host' },
        ],
      },
      corelog: { name: `${id}-corelog`, image: TEST_IMAGE, command: ['sleep', '3600'] },
      corestore: { enabled: true, name: `${id}-corestore`, image: TEST_IMAGE, command: ['sleep', '3600'], mounts: [{ source: stateDir, target: '/data' }] },
    },
    services: (example.services as Record<string, any>[]).map((s) => ({
      ...s,
      name: `${id}-${s.name}`,
      image: TEST_IMAGE,
      command: WEB_COMMAND,
      args: undefined,
      // The test image serves on 8080; check there, often, so healthy tasks come soon.
      ...(s.healthcheck ? { healthcheck: { ...s.healthcheck, test: ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/'], interval: '1s', startPeriod: '0s' } } : {}),
    })),
  };
  return { doc, id };
}

/** This cluster's services by name, untyped: dockerode's TaskSpec union hides ContainerSpec. */
async function services(id: string): Promise<Map<string, any>> {
  const list = await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } });
  return new Map(list.map((s) => [s.Spec!.Name!, s]));
}

const { doc, id } = await exampleDoc();
t.teardown(() => cleanupCluster(docker, id));

t.test('apply the example: networks, base services and workloads exist as specified', async (t) => {
  const result = await runOnce(docker, doc);
  t.equal(result.status, 'succeeded', JSON.stringify(result.steps.filter((s) => s.status !== 'succeeded')));
  t.equal(result.summary.creates, 2 + 3 + 4);

  const nets = await docker.listNetworks({ filters: { label: [`coreflow.cluster=${id}`] } });
  const gw = nets.find((n) => n.Name === `${id}-gw`)!;
  t.ok(gw, 'gateway network exists');
  t.equal(gw.Driver, 'overlay');
  t.equal(gw.Attachable, true);
  t.ok(nets.find((n) => n.Name === `${id}-int`), 'internal network exists');

  const live = await services(id);
  t.same([...live.keys()].sort(), ['api', 'corelog', 'corestore', 'coretraffic', 'metrics-agent', 'web', 'worker'].map((n) => `${id}-${n}`).sort());
  const web = live.get(`${id}-web`)!.Spec!;
  t.equal(web.Labels!['coreflow.managed-by'], 'coreflow');
  t.equal(web.Labels!['coreflow.cluster'], id);
  t.equal(web.Labels!['coreflow.role'], 'workload');
  t.match(web.Labels!['coreflow.spec-hash'], /^[0-9a-f]{16}$/);
  t.same(web.TaskTemplate!.ContainerSpec!.Env, ['LOG_LEVEL=info', 'SITE_NAME=example']);
  t.equal(web.Mode!.Replicated!.Replicas, 2);
  t.same(web.TaskTemplate!.Networks!.map((n: { Target: string }) => n.Target), [gw.Id]);
  t.equal(web.TaskTemplate!.Resources!.Limits!.MemoryBytes, 256 * 1024 * 1024);
  t.equal(web.TaskTemplate!.Resources!.Limits!.NanoCPUs, 500_000_000);
  t.equal(web.TaskTemplate!.Resources!.Reservations!.MemoryBytes, 64 * 1024 * 1024);
  t.same(web.UpdateConfig, { Parallelism: 1, Order: 'start-first', FailureAction: 'rollback', Monitor: 10_000_000_000, MaxFailureRatio: 0 });

  const api = live.get(`${id}-api`)!.Spec!;
  t.equal(api.Labels!.team, 'backend');
  t.same(api.TaskTemplate!.ContainerSpec!.Env, ['PORT=3000']);
  t.equal(api.TaskTemplate!.Resources!.Limits!.MemoryBytes, 1000 * 1024 * 1024, 'the default limit is 1000 MB');
  t.ok(live.get(`${id}-metrics-agent`)!.Spec!.Mode!.Global, 'global mode');

  const traffic = live.get(`${id}-coretraffic`)!.Spec!;
  t.same(traffic.EndpointSpec!.Ports!.map((p: { TargetPort: number; PublishMode: string }) => [p.TargetPort, p.PublishMode]), [[7999, 'host'], [8000, 'host']]);
  t.equal(traffic.TaskTemplate!.Networks!.length, 2, 'coretraffic joins both networks');
  t.equal(traffic.Labels!['coreflow.role'], 'base');
  t.ok(live.get(`${id}-corestore`)!.Spec!.Mode!.Global, 'corestore runs on every node');
  t.equal(live.get(`${id}-corelog`)!.Spec!.TaskTemplate!.Networks!.length, 1);

  await waitFor('two running web tasks', async () => {
    const tasks = await docker.listTasks({ filters: { service: [`${id}-web`], 'desired-state': ['running'] } });
    return tasks.filter((x) => x.Status?.State === 'running').length === 2;
  });
});

t.test('apply again: zero writes, every version unchanged, a constant few list calls', async (t) => {
  await settled(docker, id);
  const before = await services(id);
  calls.reset();
  const result = await runOnce(docker, doc);
  t.equal(calls.writes(), 0, `writes: ${JSON.stringify(calls.snapshot())}`);
  // One list each of networks, services, secrets and volumes, whatever the number of services (bench/).
  t.ok(calls.total() <= 4, `${calls.total()} calls: ${JSON.stringify(calls.snapshot())}`);
  t.equal(result.summary.unchanged, 9);
  const after = await services(id);
  for (const [name, s] of before) t.equal(after.get(name)!.Version!.Index, s.Version!.Index, `${name} version unchanged`);
});

t.test('change one service env: only it is updated, in place, same ID', async (t) => {
  await settled(docker, id);
  const before = await services(id);
  const changed = structuredClone(doc);
  const api = changed.services.find((s: any) => s.name === `${id}-api`);
  api.environment = { ...api.environment, FEATURE_X: 'on' };
  calls.reset();
  const result = await runOnce(docker, changed);
  t.same(
    result.steps.flatMap((s) => s.actions.filter((a) => a.type !== 'skip').map((a) => [a.type, a.name, a.diff])),
    [['update', `${id}-api`, ['ContainerSpec.Env']]],
  );
  t.equal(calls.snapshot()['POST /services/{id}/update'], 1);
  t.equal(calls.snapshot()['POST /services/create'], undefined);
  t.equal(calls.snapshot()['DELETE /services/{id}'], undefined);
  const after = await services(id);
  const a0 = before.get(`${id}-api`)!;
  const a1 = after.get(`${id}-api`)!;
  t.equal(a1.ID, a0.ID, 'same service ID');
  t.ok(a1.Version!.Index! > a0.Version!.Index!, 'version moved');
  t.same(a1.Spec!.TaskTemplate!.ContainerSpec!.Env, ['FEATURE_X=on', 'PORT=3000']);
  for (const [name, s] of before) if (name !== `${id}-api`) t.equal(after.get(name)!.Version!.Index, s.Version!.Index, `${name} untouched`);
  doc.services = changed.services;
});

t.test('remove a service from the spec: pruned; hand-made objects beside it untouched', async (t) => {
  const handNet = uniqueName('handmade-net');
  const net = await docker.createNetwork({ Name: handNet, Driver: 'overlay', Attachable: true });
  const handSvc = await docker.createService({
    Name: uniqueName('handmade'),
    TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Command: ['sleep', '3600'] }, Networks: [{ Target: `${id}-gw` }] },
    Mode: { Replicated: { Replicas: 0 } },
  } as any);
  t.teardown(async () => {
    await docker.getService(handSvc.id).remove().catch(() => undefined);
    await net.remove().catch(() => undefined);
  });
  // Swarm itself bumps a new service's version when it allocates its endpoint: compare the spec.
  const handBefore = (await docker.getService(handSvc.id).inspect()).Spec;
  const without = { ...doc, services: doc.services.filter((s: any) => s.name !== `${id}-worker`) };
  const result = await runOnce(docker, without);
  t.same(
    result.steps.flatMap((s) => s.actions.filter((a) => a.type !== 'skip').map((a) => [a.type, a.name, a.status])),
    [['delete', `${id}-worker`, 'succeeded']],
  );
  const live = await services(id);
  t.notOk(live.has(`${id}-worker`), 'worker is gone');
  t.equal(live.size, 6);
  const hand = await docker.getService(handSvc.id).inspect();
  t.same(hand.Spec, handBefore, 'the hand-made service still exists, its spec unchanged');
  t.notOk(hand.PreviousSpec, 'and it was never updated');
  t.equal((await net.inspect()).Name, handNet, 'the hand-made network still exists');
  doc.services = without.services;
});

t.test('an invalid spec: every error listed with its path, nothing in Docker changed', async (t) => {
  await settled(docker, id);
  const before = await services(id);
  const dir = await mkdtemp(join(tmpdir(), 'cf-invalid-'));
  const file = join(dir, 'spec.json');
  const bad = structuredClone(doc);
  bad.services[0].ports = { web: 'eighty' };
  bad.services[1].replicas = 3;
  bad.services.push({ name: `${id}-new`, image: TEST_IMAGE });
  await writeFile(file, JSON.stringify(bad));
  const out = await run('node', ['bin/coreflow.js', 'apply', '--spec', file]).catch((e: { code: number; stdout: string; stderr: string }) => e);
  t.equal((out as { code?: number }).code, 1, 'exit code 1');
  t.match(out.stderr, 'COREFLOW_ERR_SPEC_INVALID');
  t.match(out.stderr, 'services[0].ports.web: expected a port number');
  t.match(out.stderr, 'services[1].replicas: unknown key');
  const after = await services(id);
  t.same([...after.keys()].sort(), [...before.keys()].sort(), 'no service created or removed');
  for (const [name, s] of before) t.equal(after.get(name)!.Version!.Index, s.Version!.Index, `${name} unchanged`);
});

t.test('mass-deletion guard: an empty service list removes nothing unless confirmed', async (t) => {
  const empty = { ...doc, services: [] };
  const result = await runOnce(docker, empty);
  const deletes = result.steps.flatMap((s) => s.actions.filter((a) => a.type === 'delete'));
  t.equal(deletes.length, 3);
  t.ok(deletes.every((a) => a.status === 'blocked' && /would remove 3 of 3 owned workload services; nothing was removed/.test(a.error ?? '')));
  t.equal(result.status, 'partial');
  t.equal((await services(id)).size, 6, 'all still there');
  const confirmed = await runOnce(docker, empty, { confirmMassDeletion: true });
  t.equal(confirmed.summary.deletes, 3);
  t.equal((await services(id)).size, 3, 'only base services remain');
});
