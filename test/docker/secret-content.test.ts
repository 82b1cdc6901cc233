import t from 'tap';
import { mergeSecretValues, workloadSecret } from '../../ts/docker/secret-content.ts';
import { planSecretPrune, secretsInUse } from '../../ts/docker/secret-prune.ts';
import { desiredSecrets, planSecrets, secretBody } from '../../ts/docker/secrets.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

const doc = (services: unknown[], extra: Record<string, unknown> = {}) =>
  validateSpec({
    apiVersion: 'coreflow/v1',
    cluster: { name: 'c1' },
    secretBundles: [
      { id: 'own', values: { A: 'own-a', B: 'own-b' } },
      { id: 'x', values: { A: 'x-a', C: 'x-c', D: 'x-d' } },
      { id: 'y', values: { C: 'y-c' } },
    ],
    services,
    ...extra,
  }).spec;

t.test('precedence: platform < additional bundles in order < own bundle', async (t) => {
  const spec = doc([{ name: 'web', image: 'i:1', secretBundleId: 'own', additionalSecretBundleIds: ['x', 'y'] }]);
  const platform = () => ({ A: 'p-a', D: 'p-d', E: 'p-e' });
  t.same(mergeSecretValues(spec, spec.services[0]!, platform), { A: 'own-a', B: 'own-b', C: 'y-c', D: 'x-d', E: 'p-e' });
  const secret = workloadSecret(spec, spec.services[0]!, platform)!;
  t.equal(secret.content, '{"A":"own-a","B":"own-b","C":"y-c","D":"x-d","E":"p-e"}', 'flattened JSON, keys sorted');
});

t.test('the name carries a short content hash: stable for equal content, new for new content', async (t) => {
  const a = workloadSecret(doc([{ name: 'web', image: 'i:1', secretBundleId: 'own' }]), doc([{ name: 'web', image: 'i:1', secretBundleId: 'own' }]).services[0]!)!;
  t.match(a.name, /^web-secret-[0-9a-f]{12}$/);
  const again = doc([{ name: 'web', image: 'i:1', secretBundleId: 'own' }]);
  t.equal(workloadSecret(again, again.services[0]!)!.name, a.name);
  const changed = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, secretBundles: [{ id: 'own', values: { A: 'other' } }], services: [{ name: 'web', image: 'i:1', secretBundleId: 'own' }] }).spec;
  t.not(workloadSecret(changed, changed.services[0]!)!.name, a.name);
  const long = doc([{ name: 'a'.repeat(63), image: 'i:1', secretBundleId: 'own' }]);
  t.ok(workloadSecret(long, long.services[0]!)!.name.length <= 64, 'within Docker\'s 64 characters');
});

t.test('no bundle, no secret; the service mounts secret.json by name only', async (t) => {
  const spec = doc([
    { name: 'plain', image: 'i:1' },
    { name: 'web', image: 'i:1', secretBundleId: 'own' },
  ]);
  t.same(desiredSecrets(spec).map((s) => s.service), ['web']);
  const [plain, web] = desiredWorkloads(spec);
  t.equal(plain!.spec.TaskTemplate.ContainerSpec.Secrets, undefined);
  const refs = web!.spec.TaskTemplate.ContainerSpec.Secrets!;
  t.same(refs, [{ SecretName: desiredSecrets(spec)[0]!.name, File: { Name: 'secret.json', UID: '0', GID: '0', Mode: 0o444 } }]);
  t.notOk(JSON.stringify(web!.spec).includes('own-a'), 'the service spec holds no value');
});

t.test('an unknown bundle: no secret, the service fails alone', async (t) => {
  const spec = doc([{ name: 'web', image: 'i:1', secretBundleId: 'nope' }, { name: 'ok', image: 'i:1', secretBundleId: 'own' }]);
  t.same(desiredSecrets(spec).map((s) => s.service), ['ok']);
  t.match(desiredWorkloads(spec)[0]!.invalid, 'unknown secret bundle "nope"');
});

t.test('planSecrets: create new content, keep existing, refuse a foreign secret of that name; no values in actions', async (t) => {
  const spec = doc([{ name: 'web', image: 'i:1', secretBundleId: 'own' }, { name: 'api', image: 'i:1', secretBundleId: 'x' }]);
  const [web, api] = desiredSecrets(spec);
  const owned = { 'coreflow.managed-by': 'coreflow', 'coreflow.cluster': 'c1', 'coreflow.kind': 'secret', 'coreflow.service': 'web' };
  const actions = planSecrets(desiredSecrets(spec), [
    { id: '1', name: 'web-secret-000000000000', labels: owned },
    { id: '2', name: api!.name, labels: {} },
  ], 'c1');
  t.same(actions.map((a) => [a.name, a.type, a.reason, a.blocked?.status]), [
    [web!.name, 'create', 'secret values of web changed', undefined],
    [api!.name, 'skip', `secret ${api!.name} exists but is not owned by coreflow cluster c1; it is left alone`, 'failed'],
  ]);
  t.same(actions[0]!.diff, ['secret.json (sensitive)']);
  const printable = JSON.stringify(actions.map(({ payload: _p, ...rest }) => rest));
  t.notOk(/own-a|x-a/.test(printable));
  const body = secretBody('c1', web!);
  t.equal(Buffer.from(body.Data as string, 'base64').toString(), web!.content);
  t.notOk(JSON.stringify(body.Labels).includes('own-a'), 'labels hold no value');
});

t.test('prune: only owned, unreferenced, undesired secrets; previous spec kept while an update runs', async (t) => {
  const owned = (service: string) => ({ 'coreflow.managed-by': 'coreflow', 'coreflow.cluster': 'c1', 'coreflow.kind': 'secret', 'coreflow.service': service });
  const inUse = secretsInUse([
    { Spec: { Name: 'web', TaskTemplate: { ContainerSpec: { Secrets: [{ SecretID: 'new', SecretName: 'web-secret-new' }] } } }, PreviousSpec: { TaskTemplate: { ContainerSpec: { Secrets: [{ SecretID: 'old', SecretName: 'web-secret-old' }] } } }, UpdateStatus: { State: 'updating' } },
    { Spec: { Name: 'api', TaskTemplate: { ContainerSpec: { Secrets: [{ SecretID: 'a2', SecretName: 'api-secret-2' }] } } }, PreviousSpec: { TaskTemplate: { ContainerSpec: { Secrets: [{ SecretID: 'a1', SecretName: 'api-secret-1' }] } } }, UpdateStatus: { State: 'completed' } },
  ]);
  const actions = planSecretPrune('c1', new Set(['web-secret-new', 'api-secret-2']), {
    secrets: [
      { id: 'new', name: 'web-secret-new', labels: owned('web') },
      { id: 'old', name: 'web-secret-old', labels: owned('web') },
      { id: 'a1', name: 'api-secret-1', labels: owned('api') },
      { id: 'a2', name: 'api-secret-2', labels: owned('api') },
      { id: 'f', name: 'foreign', labels: { 'coreflow.managed-by': 'coreflow', 'coreflow.cluster': 'other', 'coreflow.kind': 'secret' } },
    ],
    inUse,
  });
  t.same(actions.map((a) => [a.name, a.type]), [['web-secret-old', 'skip'], ['api-secret-1', 'delete']]);
  t.match(actions[0]!.reason, 'kept for a rollback of web while its update runs');
});
