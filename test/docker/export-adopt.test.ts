import t from 'tap';
import { describeDifferences, planAdoption } from '../../ts/docker/adopt.ts';
import { buildDockerModel } from '../../ts/docker/desired-model.ts';
import { exportSpec, formatDurationNs, type ExportableService } from '../../ts/docker/export.ts';
import type { LiveService } from '../../ts/docker/service-model.ts';
import { isCoreflowError } from '../../ts/errors.ts';
import { specErrors, validateSpec } from '../../ts/spec/parse.ts';

/** A service as `docker stack deploy` stores it (GET /services: no defaults filled in). */
function stackService(name: string, extra: Record<string, unknown> = {}): ExportableService {
  return {
    ID: `id-${name}`,
    Spec: {
      Name: `shop_${name}`,
      Labels: { 'com.docker.stack.image': 'team/app:1', 'com.docker.stack.namespace': 'shop' },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'team/app:1',
          Labels: { 'com.docker.stack.namespace': 'shop' },
          Args: ['serve', '--port', '8080'],
          Env: ['A=1', 'B=x=y'],
          Privileges: { CredentialSpec: null, SELinuxContext: null },
          StopGracePeriod: 10_000_000_000,
          Mounts: [{ Type: 'volume', Source: 'shop_data', Target: '/data', VolumeOptions: { Labels: { 'com.docker.stack.namespace': 'shop' } } }],
          Secrets: [{ File: { Name: 'pw', UID: '0', GID: '0', Mode: 292 }, SecretID: 'sid', SecretName: 'shop_pw' }],
          Isolation: 'default',
        },
        Resources: { Limits: { MemoryBytes: 64 * 1024 * 1024 } },
        RestartPolicy: { Condition: 'on-failure', Delay: 5_000_000_000, MaxAttempts: 3 },
        Placement: { Constraints: ['node.role==manager'] },
        Networks: [{ Target: 'netid', Aliases: [name] }],
        ForceUpdate: 0,
        Runtime: 'container',
      },
      Mode: { Replicated: { Replicas: 2 } },
      EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishedPort: 18080, PublishMode: 'host' }] },
      ...extra,
    },
  };
}

const live = (s: ExportableService, labels: Record<string, string> = s.Spec.Labels ?? {}): LiveService => {
  const spec = structuredClone(s.Spec) as unknown as Record<string, unknown> & { TaskTemplate: { Networks: { Target: string }[] } };
  for (const n of spec.TaskTemplate.Networks) n.Target = 'shop_default';
  return { id: s.ID, name: s.Spec.Name, version: 7, labels, spec: { ...spec, Labels: labels } };
};

/** The error `fn` throws (the test fails when it throws none). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

const exported = (services: ExportableService[]) => exportSpec(services, { cluster: 'shop', networkNames: new Map([['netid', 'shop_default']]) });

t.test('an exported stack is a valid spec that renders what runs: nothing differs', async (t) => {
  const services = [stackService('web'), stackService('db', { UpdateConfig: { Parallelism: 2, FailureAction: 'rollback', Order: 'start-first', Monitor: 3_000_000_000 } })];
  const { doc, notes } = exported(services);
  t.same(notes, [], 'everything is expressible');
  const { spec } = validateSpec(doc);
  const web = spec.services.find((s) => s.name === 'shop_web')!;
  t.same(web.environment, { A: '1', B: 'x=y' });
  t.same(web.externalSecrets, [{ name: 'shop_pw', target: 'pw', uid: '0', gid: '0', mode: 0o444 }]);
  t.same(web.update, { dockerDefaults: true }, 'no stored update policy: Docker defaults');
  t.equal(web.stopGracePeriod, '10s');
  t.same(spec.networks.gateway, { name: 'shop_default', external: true });
  const desired = buildDockerModel(spec).workloads.services;
  for (const d of desired) t.same(describeDifferences(d, live(services.find((s) => s.Spec.Name === d.name)!)), [], `${d.name}: nothing differs`);
  const plan = planAdoption(desired, services.map((s) => live(s)), 'shop');
  t.same(plan.adopt.map((a) => a.live.name), ['shop_db', 'shop_web']);
});

t.test('what the spec cannot express is listed', async (t) => {
  const s = stackService('web', { UpdateConfig: { Parallelism: 1, Delay: 10_000_000_000, FailureAction: 'pause', Order: 'stop-first' } });
  const c = (s.Spec.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;
  c.Configs = [{ ConfigName: 'x' }];
  c.Privileges = { NoNewPrivileges: true };
  const { notes } = exported([s]);
  t.match(notes.join('\n'), 'shop_web: update_config.delay (10s) is not expressible');
  t.match(notes.join('\n'), 'shop_web: Docker configs are not expressible');
  t.match(notes.join('\n'), 'shop_web: ContainerSpec.Privileges is not expressible');
  t.equal(formatDurationNs(90_000_000_000), '90s');
  t.equal(formatDurationNs(1_500_000_000), '1500ms');
});

t.test('adoption refuses, with nothing to adopt, another owner, a missing service and any difference', async (t) => {
  const services = [stackService('web'), stackService('db')];
  const { spec } = validateSpec(exported(services).doc);
  const desired = buildDockerModel(spec).workloads.services;
  const owned = { ...services[0]!.Spec.Labels, 'coreflow.managed-by': 'coreflow', 'coreflow.cluster': 'other' };
  const other = thrown(() => planAdoption(desired, [live(services[0]!, owned), live(services[1]!)], 'shop'));
  t.ok(isCoreflowError(other, 'COREFLOW_ERR_ADOPT_OWNED_ELSEWHERE'));
  t.match(other.message, 'service shop_web is owned by coreflow cluster other, not shop; nothing was adopted');
  const missing = thrown(() => planAdoption(desired, [live(services[0]!)], 'shop'));
  t.ok(isCoreflowError(missing, 'COREFLOW_ERR_ADOPT_MISSING'));
  t.match(missing.message, 'shop_db: no such service runs');
  const changed = structuredClone(services[1]!);
  (changed.Spec.TaskTemplate as { ContainerSpec: { Env: string[] } }).ContainerSpec.Env = ['A=2', 'B=x=y'];
  (changed.Spec.Mode as { Replicated: { Replicas: number } }).Replicated.Replicas = 5;
  const differs = thrown(() => planAdoption(desired, [live(services[0]!), live(changed)], 'shop'));
  t.ok(isCoreflowError(differs, 'COREFLOW_ERR_ADOPT_DIFFERS'));
  t.match(differs.message, 'shop_db: ContainerSpec.Env: variables A differ');
  t.match(differs.message, 'shop_db: Mode.Replicated.Replicas: spec 2, live 5');
  t.notMatch(differs.message, 'A=2', 'no environment value is printed');
  const mine = { ...services[0]!.Spec.Labels, 'coreflow.managed-by': 'coreflow', 'coreflow.cluster': 'shop' };
  t.same(planAdoption(desired, [live(services[0]!, mine), live(services[1]!)], 'shop').alreadyOwned, ['shop_web'], 'already ours: nothing to do');
});

t.test('bad input in the new spec fields names the field', async (t) => {
  const doc = (service: Record<string, unknown>, networks?: unknown) => ({
    apiVersion: 'coreflow/v1',
    cluster: { name: 'x' },
    ...(networks ? { networks } : {}),
    services: [{ name: 'a', image: 'i:1', ...service }],
  });
  const errorsOf = (d: unknown) => {
    try {
      validateSpec(d);
      return [];
    } catch (e) {
      return isCoreflowError(e) ? specErrors(e) : [String(e)];
    }
  };
  t.match(errorsOf(doc({ volumes: [{ mountPath: '/d', external: true }] })).join('\n'), 'services[0].volumes[0].name: an external volume needs its name');
  t.match(errorsOf(doc({ update: { dockerDefaults: true, parallelism: 2 } })).join('\n'), 'services[0].update');
  t.match(errorsOf(doc({ resources: { memoryLimitMB: -1 } })).join('\n'), 'services[0].resources.memoryLimitMB: expected a number > 0, or 0 for no limit');
  t.match(errorsOf(doc({ externalSecrets: [{ name: 'pw', target: 'a/b' }] })).join('\n'), 'services[0].externalSecrets[0].target');
  t.match(errorsOf(doc({ networks: [] })).join('\n'), 'services[0].networks: expected at least one network');
  t.match(errorsOf(doc({ onPausedUpdate: 'retry' })).join('\n'), 'services[0].onPausedUpdate: expected "rollback" or "pause"');
  t.match(errorsOf(doc({}, { gateway: { name: 'n' }, internal: { name: 'n', external: true } })).join('\n'), 'networks.internal.name: must differ');
  t.same(errorsOf(doc({}, { gateway: { name: 'n', external: true }, internal: { name: 'n', external: true } })), [], 'one external network for both roles');
});
