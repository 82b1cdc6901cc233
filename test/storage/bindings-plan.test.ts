import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { CoreflowError, isCoreflowError } from '../../ts/errors.ts';
import { bindingCounts } from '../../ts/reconcile/run-metrics.ts';
import { specErrors, validateSpec } from '../../ts/spec/parse.ts';
import { BindingsRunState, desiredBindings, planBindingReleases, planBindings, servicePlatforms } from '../../ts/storage/bindings-plan.ts';
import { corestoreTokenSource } from '../../ts/storage/corestore-token.ts';
import type { ProvisionedBinding } from '../../ts/storage/platform-provider.ts';

const doc = (services: Record<string, unknown>[]) => ({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, services: services.map((s) => ({ image: 'x:1', ...s })) });
const spec = (services: Record<string, unknown>[]) => validateSpec(doc(services)).spec;

function errorsOf(services: Record<string, unknown>[]): string[] {
  try {
    validateSpec(doc(services));
  } catch (err) {
    if (err instanceof CoreflowError && err.code === 'COREFLOW_ERR_SPEC_INVALID') return specErrors(err);
    throw err;
  }
  throw new Error('expected the spec to be rejected');
}

function live(service: string, type: 'database' | 'objectstorage', name: string, extra: Partial<ProvisionedBinding> = {}): ProvisionedBinding {
  return { type, name, owner: { cluster: 'c1', service }, id: `${type}-${name}`, state: 'ready', endpoint: `e://${name}`, credentialRef: `${name}/cred-1`, env: type === 'database' ? { MONGODB_URI: `uri-${name}` } : { S3_BUCKET: name }, ...extra };
}

t.test('spec: bindings are validated with their paths', async (t) => {
  t.match(errorsOf([{ name: 'a', bindings: [{ type: 'queue' }] }]), [/^services\[0\]\.bindings\[0\]\.type: expected "database" or "objectstorage"/]);
  t.match(errorsOf([{ name: 'a', bindings: [{ type: 'database', name: 'Bad_Name' }] }]), [/^services\[0\]\.bindings\[0\]\.name: expected lower-case letters/]);
  t.match(errorsOf([{ name: 'a', bindings: [{ type: 'database', extra: 1 }] }]), [/^services\[0\]\.bindings\[0\]\.extra: unknown key/]);
  t.match(errorsOf([{ name: 'a', bindings: [{ type: 'database', options: { v: 7 } }] }]), [/^services\[0\]\.bindings\[0\]\.options\.v: expected a string/]);
  t.match(errorsOf([{ name: 'a', bindings: [{ type: 'database', name: 'db' }] }, { name: 'b', bindings: [{ type: 'database', name: 'db' }] }]), [
    /^services\[1\]\.bindings\[0\]\.name: database "db" is already bound by services\[0\]\.bindings\[0\]/,
  ]);
  t.match(errorsOf([{ name: 'a', bindings: [{ type: 'database', name: 'one' }, { type: 'database', name: 'two' }] }]), [/^services\[0\]\.bindings\[1\]\.envPrefix: .*set a different envPrefix/]);
  t.doesNotThrow(() => spec([{ name: 'a', bindings: [{ type: 'database', name: 'one' }, { type: 'database', name: 'two', envPrefix: 'TWO_' }, { type: 'objectstorage', name: 'one' }] }]));
});

t.test('desired bindings: derived names, excluded records have none', async (t) => {
  const s = spec([{ name: 'Web_App', bindings: [{ type: 'database' }] }, { name: 'job', serviceCategory: 'batch', bindings: [{ type: 'database' }] }]);
  t.same(desiredBindings(s).map((d) => d.key), ['Web_App/database/web-app']);
});

t.test('plan: provision what is missing, skip what is ready, wait for provisioning, refuse a name of another service', async (t) => {
  const s = spec([{ name: 'a', bindings: [{ type: 'database' }, { type: 'objectstorage' }, { type: 'database', name: 'slow', envPrefix: 'SLOW_' }, { type: 'objectstorage', name: 'taken', envPrefix: 'T_' }] }]);
  const actions = planBindings(desiredBindings(s), [live('a', 'database', 'a'), live('a', 'database', 'slow', { state: 'provisioning' }), live('b', 'objectstorage', 'taken')]);
  t.same(actions.map((a) => [a.name, a.type, a.blocked?.code]), [
    ['a/database/a', 'skip', undefined],
    ['a/objectstorage/a', 'create', undefined],
    ['a/database/slow', 'update', undefined],
    ['a/objectstorage/taken', 'create', 'COREFLOW_ERR_BINDING_NAME_IN_USE'],
  ]);
  t.equal(actions[0]!.reason, 'ready at e://a (credential a/cred-1)');
  t.notMatch(JSON.stringify(actions.map((a) => a.reason)), 'uri-', 'no credential in the reasons');
});

t.test('platform values: merged with prefixes; a problem fails the service; nothing provisioned yet waits', async (t) => {
  const s = spec([
    { name: 'a', bindings: [{ type: 'database' }, { type: 'database', name: 'two', envPrefix: 'TWO_' }] },
    { name: 'b', bindings: [{ type: 'objectstorage' }] },
    { name: 'c', bindings: [{ type: 'database' }] },
  ]);
  const state = new BindingsRunState();
  state.listed = [live('a', 'database', 'a'), live('a', 'database', 'two')];
  state.failed.set('b/objectstorage/b', { reason: 'Corestore refused it', code: 'COREFLOW_ERR_CORESTORE_REFUSED' });
  const out = servicePlatforms(desiredBindings(s), state);
  t.same(out.get('a'), { values: { MONGODB_URI: 'uri-a', TWO_MONGODB_URI: 'uri-two' } });
  t.same(out.get('b'), { problem: { reason: 'binding objectstorage b: Corestore refused it', code: 'COREFLOW_ERR_CORESTORE_REFUSED' } });
  t.match(out.get('c'), { problem: { code: 'COREFLOW_ERR_BINDING_NOT_READY' } });
  // The Docker model: a gets a secret, b and c are not deployed (a running one keeps its secret).
  const [a, b] = desiredWorkloads(s, (n) => { const p = out.get(n); return p && 'values' in p ? p.values : undefined; });
  t.ok(a!.spec.TaskTemplate.ContainerSpec.Secrets?.length, 'a mounts its secret');
  t.equal(b!.invalid, undefined, 'without the blocked hook nothing is invalid');
  state.dryRun = true;
  t.same(servicePlatforms(desiredBindings(s), state).get('c'), { values: {} }, 'a dry run plans the service of a binding still to provision');
  state.dryRun = false;
  state.listProblem = { reason: 'cannot reach Corestore', code: 'COREFLOW_ERR_CORESTORE_UNREACHABLE' };
  t.match(servicePlatforms(desiredBindings(s), state).get('a'), { problem: { code: 'COREFLOW_ERR_CORESTORE_UNREACHABLE' } }, 'listing failed: every bound service fails');
});

t.test('release: never without the opt-in, never while the service runs, within the guard', async (t) => {
  const s = spec([{ name: 'keep', bindings: [{ type: 'database' }] }]);
  const listed = [live('keep', 'database', 'keep'), live('gone', 'database', 'gone'), live('running', 'database', 'running')];
  const running = new Set(['running']);
  t.same(planBindingReleases(s, listed, running, { release: false, allowMassDeletion: false }).map((a) => [a.name, a.type]), [['gone/database/gone', 'skip']], 'kept without the opt-in');
  const released = planBindingReleases(s, listed, running, { release: true, allowMassDeletion: false });
  t.same(released.map((a) => [a.name, a.type, a.blocked?.code]), [['gone/database/gone', 'delete', undefined]], 'only the removed service, not the one still running');
  const most = planBindingReleases(spec([]), listed, new Set(), { release: true, allowMassDeletion: false });
  t.ok(most.every((a) => a.blocked?.code === 'COREFLOW_ERR_MASS_DELETION'), 'releasing all of them needs a confirmation');
  t.ok(planBindingReleases(spec([]), listed, new Set(), { release: true, allowMassDeletion: true }).every((a) => !a.blocked));
});

t.test('metrics: bindings counted by type and state', async (t) => {
  const steps = [{ kind: 'bindings', status: 'succeeded' as const, durationMs: 0, actions: [
    { kind: 'binding', name: 'a/database/a', type: 'skip' as const, reason: 'ready', status: 'skipped' as const, durationMs: 0 },
    { kind: 'binding', name: 'b/database/b', type: 'create' as const, reason: 'x', status: 'failed' as const, code: 'COREFLOW_ERR_CORESTORE_API' as const, durationMs: 0 },
    { kind: 'binding', name: 'c/objectstorage/c', type: 'update' as const, reason: 'x', status: 'failed' as const, code: 'COREFLOW_ERR_BINDING_NOT_READY' as const, durationMs: 0 },
    { kind: 'binding', name: 'd/database/d', type: 'skip' as const, reason: 'kept: service d was removed', status: 'skipped' as const, durationMs: 0 },
  ] }];
  t.same(Object.fromEntries(bindingCounts({ steps })), { 'database/ready': 1, 'database/failed': 1, 'objectstorage/progressing': 1, 'database/orphaned': 1 });
});

t.test('token source: direct, or the file read each time; errors name the path only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-cstoken-'));
  const file = join(dir, 'token');
  await writeFile(file, 'from-file\n');
  t.equal(await corestoreTokenSource({ corestoreToken: 'direct' })(), 'direct');
  const source = corestoreTokenSource({ corestoreTokenFile: file });
  t.equal(await source(), 'from-file');
  await writeFile(file, 'rotated');
  t.equal(await source(), 'rotated');
  await writeFile(file, '  \n');
  const empty = await source().catch((e: unknown) => e);
  t.ok(isCoreflowError(empty, 'COREFLOW_ERR_SECRET_FILE'));
  t.equal(await corestoreTokenSource({})(), undefined);
});

t.test('the chain: bindings first, base services after the secrets (the token secret), release after the services', async (t) => {
  const kinds = defaultSteps({} as never).map((s) => s.kind);
  t.ok(kinds.indexOf('bindings') < kinds.indexOf('secrets'));
  t.ok(kinds.indexOf('secrets') < kinds.indexOf('base-services'));
  t.ok(kinds.indexOf('services') < kinds.indexOf('binding-release'));
});
