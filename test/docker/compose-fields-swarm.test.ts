import { readFile } from 'node:fs/promises';
import t from 'tap';
import { parse } from 'yaml';
import { EVERY_COMPOSE_FIELD } from '../helpers/compose-fields.ts';
import { cleanupCluster, connect, runOnce, settled, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

const { docker, calls } = await connect();
const doc = testDoc('cmp') as any;
const id = doc.cluster.name;
const name = `${id}-app`;
t.teardown(() => cleanupCluster(docker, id));

/** One service carrying every compose field, so one inspect checks them all. */
doc.services = [
  {
    name,
    image: TEST_IMAGE,
    command: ['sleep', '3600'],
    resources: { memoryLimitMB: 32 },
    update: { monitorSeconds: 0 },
    ...EVERY_COMPOSE_FIELD,
    // What this node and the test image can run: a satisfiable constraint, a check the image can pass, a directory it has.
    placement: { ...EVERY_COMPOSE_FIELD.placement, constraints: ['node.role==manager'] },
    healthcheck: { test: ['CMD', 'echo', 'ok'], interval: '1s', timeout: '2s', retries: 2, startPeriod: '1s' },
    workingDir: '/tmp',
    stopGracePeriod: '3s',
  },
];

async function inspect(): Promise<any> {
  const [s] = await docker.listServices({ filters: { name: [name] } });
  return s;
}

t.test('every field appears in docker service inspect as specified, and the task runs with them', async (t) => {
  const result = await runOnce(docker, doc);
  t.equal(result.status, 'succeeded', JSON.stringify(result.steps.filter((s) => s.status !== 'succeeded')));
  const s = await inspect();
  const tt = s.Spec.TaskTemplate;
  const c = tt.ContainerSpec;
  t.same(tt.Placement, { Constraints: ['node.role==manager'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 });
  t.same(c.Healthcheck, { Test: ['CMD', 'echo', 'ok'], Interval: 1e9, Timeout: 2e9, Retries: 2, StartPeriod: 1e9 });
  t.same(tt.RestartPolicy, { Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 120e9 });
  t.match(s.Spec.RollbackConfig, { Parallelism: 2, Order: 'stop-first', FailureAction: 'continue', Monitor: 3e9 });
  t.equal(s.Spec.EndpointSpec.Mode, 'dnsrr');
  t.equal(c.StopGracePeriod, 3e9);
  t.equal(c.StopSignal, 'SIGQUIT');
  t.equal(c.User, '1000:1000');
  t.equal(c.Dir, '/tmp');
  t.equal(c.Hostname, 'app.internal');
  t.same(c.Hosts, ['10.0.0.5 db.local', '::1 v6.local']);
  t.same(c.DNSConfig, { Nameservers: ['10.0.0.2'], Search: ['example.internal'], Options: ['ndots:2'] });
  t.equal(c.Init, false);
  t.equal(c.ReadOnly, true);
  t.same(c.CapabilityAdd, ['CAP_NET_ADMIN', 'CAP_SYS_TIME']);
  t.same(c.CapabilityDrop, ['ALL']);
  t.same(c.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 512, Hard: 512 }]);
  t.same(c.Sysctls, { 'net.core.somaxconn': '1024' });
  t.same(c.Mounts, [{ Type: 'tmpfs', Target: '/run' }, { Type: 'tmpfs', Target: '/cache', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } }]);
  t.same(tt.LogDriver, { Name: 'json-file', Options: { 'max-size': '10m', 'max-file': '3' } });
  t.same(c.Labels, { tier: 'web' });

  // The engine accepted them for a real container: it runs, healthy, with them applied.
  const container = await waitFor('a healthy container', async () => {
    const [one] = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.id=${s.ID}`], health: ['healthy'] } });
    return one && docker.getContainer(one.Id).inspect();
  }, 60_000);
  t.same(container.HostConfig.CapAdd, ['CAP_NET_ADMIN', 'CAP_SYS_TIME']);
  t.same(container.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 512, Hard: 512 }]);
  t.equal(container.HostConfig.ReadonlyRootfs, true);
  t.equal(container.Config.Hostname, 'app.internal');
  t.equal(container.Config.Labels.tier, 'web');
  t.equal(container.HostConfig.LogConfig?.Type, 'json-file');
});

t.test('applied again: zero writes (every field round-trips through Docker)', async (t) => {
  await settled(docker, id);
  const before = await inspect();
  calls.reset();
  const result = await runOnce(docker, doc);
  t.equal(calls.writes(), 0, `writes: ${JSON.stringify(calls.snapshot())}`);
  t.same(result.steps.flatMap((s) => s.actions.filter((a) => a.type !== 'skip').map((a) => `${a.type} ${a.name}: ${a.diff?.join(',')}`)), []);
  t.equal((await inspect()).Version.Index, before.Version.Index);
});

t.test('a field changed by hand is healed, in place', async (t) => {
  const s = await inspect();
  const spec = structuredClone(s.Spec);
  spec.TaskTemplate.ContainerSpec.StopGracePeriod = 9e9;
  spec.TaskTemplate.ContainerSpec.CapabilityAdd = ['CAP_SYS_TIME'];
  spec.TaskTemplate.RestartPolicy.MaxAttempts = 0;
  await docker.getService(s.ID).update({ ...spec, version: s.Version.Index });
  const result = await runOnce(docker, doc);
  const action = result.steps.flatMap((x) => x.actions).find((a) => a.name === name)!;
  t.equal(action.type, 'update');
  t.match(action.reason, /drifted/);
  t.same([...(action.diff ?? [])].sort(), ['ContainerSpec.CapabilityAdd', 'ContainerSpec.StopGracePeriod', 'RestartPolicy.MaxAttempts']);
  const after = await inspect();
  t.equal(after.ID, s.ID);
  t.equal(after.Spec.TaskTemplate.ContainerSpec.StopGracePeriod, 3e9);
  t.same(after.Spec.TaskTemplate.ContainerSpec.CapabilityAdd, ['CAP_NET_ADMIN', 'CAP_SYS_TIME']);
  t.equal(after.Spec.TaskTemplate.RestartPolicy.MaxAttempts, 3);
});

// From here on nothing waits for Docker to finish a rolling update: the agent compares specs, not
// versions, and an update still rolling (or one Docker never finishes) must not change what it does.
t.test('a field changed in the spec updates the service in place; the plan names it', async (t) => {
  const s = await inspect();
  doc.services[0].healthcheck.interval = '2s';
  doc.services[0].placement = { ...doc.services[0].placement, constraints: ['node.role!=worker'] };
  const plan = await runOnce(docker, doc, { dryRun: true });
  const planned = plan.steps.flatMap((x) => x.actions).find((a) => a.name === name)!;
  t.equal(planned.reason, 'spec changed');
  t.same([...(planned.diff ?? [])].sort(), ['ContainerSpec.Healthcheck.Interval', 'Placement.Constraints']);
  await runOnce(docker, doc);
  const after = await inspect();
  t.equal(after.ID, s.ID);
  t.equal(after.Spec.TaskTemplate.ContainerSpec.Healthcheck.Interval, 2e9);
  t.same(after.Spec.TaskTemplate.Placement.Constraints, ['node.role!=worker']);
  calls.reset();
  await runOnce(docker, doc);
  t.equal(calls.writes(), 0, 'and then nothing more to do');
});

t.test('bad input: errors with their paths, nothing applied', async (t) => {
  const before = await inspect();
  calls.reset();
  const bad = structuredClone(doc);
  Object.assign(bad.services[0], { placement: { constraints: ['node.labels.disk=ssd'] }, stopGracePeriod: '-10s', capAdd: ['NET_ADMIN', 'WARP_DRIVE'] });
  const err = await runOnce(docker, bad).then(() => undefined, (e: unknown) => e as { code?: string; params?: { details?: string } });
  t.equal(err?.code, 'COREFLOW_ERR_SPEC_INVALID');
  t.match(err?.params?.details, /services\[0\]\.placement\.constraints\[0\]: expected a constraint/);
  t.match(err?.params?.details, /services\[0\]\.stopGracePeriod: expected a duration >= 0, not "-10s"/);
  t.match(err?.params?.details, /services\[0\]\.capAdd\[1\]: unknown capability "WARP_DRIVE"/);
  t.equal(calls.writes(), 0, 'nothing written');
  t.same((await inspect()).Spec, before.Spec, 'the service is unchanged');
});

t.test('a field removed from the spec: the plan names it and the update removes it', async (t) => {
  delete doc.services[0].sysctls;
  delete doc.services[0].logging;
  const plan = await runOnce(docker, doc, { dryRun: true });
  const planned = plan.steps.flatMap((x) => x.actions).find((a) => a.name === name)!;
  t.same([...(planned.diff ?? [])].sort(), ['ContainerSpec.Sysctls', 'LogDriver']);
  await runOnce(docker, doc);
  const after = await inspect();
  t.equal(after.Spec.TaskTemplate.ContainerSpec.Sysctls, undefined);
  t.equal(after.Spec.TaskTemplate.LogDriver, undefined);
});

t.test('a spec written before the compose fields: applied twice, zero writes the second time', async (t) => {
  const before = parse(await readFile(new URL('../fixtures/compose/spec-before.yaml', import.meta.url), 'utf8')) as any;
  const old = testDoc('cmpold') as any;
  t.teardown(() => cleanupCluster(docker, old.cluster.name));
  old.services = before.services.map((s: any) => ({
    ...s,
    name: `${old.cluster.name}-${s.name}`,
    scaleFactor: 0,
    publish: (s.publish ?? []).map((p: any) => ({ ...p, published: 30000 + Math.floor(Math.random() * 9000) })),
  }));
  const first = await runOnce(docker, old);
  t.equal(first.status, 'succeeded', JSON.stringify(first.steps.filter((s) => s.status !== 'succeeded')));
  await settled(docker, old.cluster.name);
  calls.reset();
  await runOnce(docker, old);
  t.equal(calls.writes(), 0, `writes: ${JSON.stringify(calls.snapshot())}`);

  // A compose field added by hand to a service whose spec does not set it is drift too.
  const [worker] = await docker.listServices({ filters: { name: [`${old.cluster.name}-before-worker`] } });
  const spec = structuredClone(worker!.Spec) as any;
  spec.TaskTemplate.RestartPolicy = { Condition: 'none' };
  spec.TaskTemplate.ContainerSpec.Healthcheck = { Test: ['NONE'] };
  await docker.getService(worker!.ID).update({ ...spec, version: worker!.Version!.Index });
  const healed = await runOnce(docker, old);
  const action = healed.steps.flatMap((x) => x.actions).find((a) => a.name === `${old.cluster.name}-before-worker`)!;
  t.match(action, { type: 'update', reason: /drifted/ });
  t.same([...(action.diff ?? [])].sort(), ['ContainerSpec.Healthcheck', 'RestartPolicy']);
  const [after] = (await docker.listServices({ filters: { name: [`${old.cluster.name}-before-worker`] } })) as any[];
  t.equal(after.Spec.TaskTemplate.RestartPolicy, undefined);
  t.equal(after.Spec.TaskTemplate.ContainerSpec.Healthcheck, undefined);
});
