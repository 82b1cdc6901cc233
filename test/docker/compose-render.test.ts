import { readFile } from 'node:fs/promises';
import t from 'tap';
import { serviceDiff } from '../../ts/docker/service-plan.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { validateSpec } from '../../ts/spec/parse.ts';
import { parseSpec } from '../../ts/spec/spec-text.ts';
import { EVERY_COMPOSE_FIELD } from '../helpers/compose-fields.ts';

const doc = (service: Record<string, unknown>) => ({ apiVersion: 'coreflow/v1', cluster: { name: 'demo' }, services: [{ name: 'a', image: 'x:1', ...service }] });
const render = (service: Record<string, unknown>) => desiredWorkloads(validateSpec(doc(service)).spec)[0]!;

t.test('a spec written before the compose fields keeps the hash it had (so an upgrade writes nothing)', async (t) => {
  const { spec } = parseSpec(await readFile(new URL('../fixtures/compose/spec-before.yaml', import.meta.url), 'utf8'));
  // Hashes the renderer gave this file before the compose fields existed.
  t.same(Object.fromEntries(desiredWorkloads(spec).map((d) => [d.name, d.hash])), { 'before-web': 'c891395ca80fe123', 'before-worker': '45b8df526485fac7' });
});

t.test('every compose field lands in the Docker service spec, by the names Docker stores', async (t) => {
  const d = render(EVERY_COMPOSE_FIELD);
  const tt = d.spec.TaskTemplate;
  const c = tt.ContainerSpec;
  t.same(tt.Placement, { Constraints: ['node.labels.storage==ssd'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 });
  t.same(c.Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O- http://localhost:8080/'], Interval: 10e9, Timeout: 2e9, Retries: 3, StartPeriod: 60e9 });
  t.same(tt.RestartPolicy, { Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 120e9 });
  t.same(d.spec.RollbackConfig, { Parallelism: 2, Order: 'stop-first', FailureAction: 'continue', Monitor: 3e9 });
  t.same(d.spec.EndpointSpec, { Mode: 'dnsrr' });
  t.same(
    { ...c, Image: undefined, Env: undefined, Mounts: undefined, Healthcheck: undefined },
    {
      Image: undefined,
      Env: undefined,
      Mounts: undefined,
      Healthcheck: undefined,
      StopGracePeriod: 30e9,
      StopSignal: 'SIGQUIT',
      User: '1000:1000',
      Dir: '/app',
      Hostname: 'app.internal',
      Hosts: ['10.0.0.5 db.local', '::1 v6.local'],
      DNSConfig: { Nameservers: ['10.0.0.2'], Search: ['example.internal'], Options: ['ndots:2'] },
      Init: false,
      ReadOnly: true,
      CapabilityAdd: ['CAP_NET_ADMIN', 'CAP_SYS_TIME'],
      CapabilityDrop: ['ALL'],
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 512, Hard: 512 }],
      Sysctls: { 'net.core.somaxconn': '1024' },
      Labels: { tier: 'web' },
    },
  );
  t.same(c.Mounts, [{ Type: 'tmpfs', Target: '/run' }, { Type: 'tmpfs', Target: '/cache', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } }]);
  t.same(tt.LogDriver, { Name: 'json-file', Options: { 'max-size': '10m', 'max-file': '3' } });
});

t.test('values Docker drops when it stores a spec are not rendered (they would read as drift)', async (t) => {
  const d = render({ healthcheck: { test: ['CMD', 'true'], interval: '0s', retries: 0 }, readOnly: false, placement: { maxReplicasPerNode: 0 }, rollback: { monitorSeconds: 0 } });
  t.same(d.spec.TaskTemplate.ContainerSpec.Healthcheck, { Test: ['CMD', 'true'] });
  t.notOk('ReadOnly' in d.spec.TaskTemplate.ContainerSpec);
  t.notOk('Placement' in d.spec.TaskTemplate);
  t.same(d.spec.RollbackConfig, {});
  t.same(render({ healthcheck: { disable: true } }).spec.TaskTemplate.ContainerSpec.Healthcheck, { Test: ['NONE'] });
});

t.test('each field is part of the hash and shows in the plan diff by name', async (t) => {
  const base = render({});
  const cases: [Record<string, unknown>, string][] = [
    [{ placement: { constraints: ['node.role==manager'] } }, 'Placement.Constraints'],
    [{ healthcheck: { test: 'true', interval: '5s' } }, 'ContainerSpec.Healthcheck.Interval'],
    [{ restartPolicy: { maxAttempts: 3 } }, 'RestartPolicy.MaxAttempts'],
    [{ rollback: { order: 'start-first' } }, 'RollbackConfig.Order'],
    [{ stopGracePeriod: '20s' }, 'ContainerSpec.StopGracePeriod'],
    [{ endpointMode: 'dnsrr' }, 'EndpointSpec.Mode'],
    [{ capAdd: ['NET_ADMIN'] }, 'ContainerSpec.CapabilityAdd'],
    [{ ulimits: { nofile: 100 } }, 'ContainerSpec.Ulimits'],
    [{ sysctls: { 'net.core.somaxconn': '512' } }, 'ContainerSpec.Sysctls.net.core.somaxconn'],
    [{ tmpfs: '/run' }, 'ContainerSpec.Mounts'],
    [{ logging: { driver: 'local' } }, 'LogDriver.Name'],
    [{ containerLabels: { a: 'b' } }, 'ContainerSpec.Labels.a'],
  ];
  for (const [fields, path] of cases) {
    const d = render(fields);
    t.not(d.hash, base.hash, `${JSON.stringify(fields)} changes the hash`);
    const live = { id: 'x', name: 'a', version: 1, labels: base.spec.Labels, spec: structuredClone(base.spec) as unknown as Record<string, unknown> };
    // The diff names the outermost field that differs: the whole object when live has none of it.
    const diff = serviceDiff(d, live);
    t.ok(diff.length === 1 && path.startsWith(diff[0]!), `${path} named by ${JSON.stringify(diff)}`);
  }
});
