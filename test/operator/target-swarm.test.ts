import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { isCoreflowError } from '../../ts/errors.ts';
import { parseTarget, targetScope } from '../../ts/object-controls.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import { runProcess } from '../helpers/run-process.ts';
import { cleanupCluster, connect, load, runOnce, settled, TEST_IMAGE, testDoc, uniqueName, WEB_COMMAND } from '../helpers/swarm.ts';

/** `--target` against the real swarm: in-process with counted writes, and the CLI as a child process. */
const { docker, calls } = await connect();
const doc = testDoc('cftgt');
const cluster = doc.cluster.name;
const web = uniqueName('cftgt-web');
const api = uniqueName('cftgt-api');
const dir = await mkdtemp(join(tmpdir(), 'cf-target-'));
t.teardown(async () => {
  await cleanupCluster(docker, cluster);
  await rm(dir, { recursive: true, force: true });
});

function version(v: string, bundleValue: string) {
  return {
    ...doc,
    secretBundles: [{ id: 'app', values: { TOKEN: bundleValue } }],
    services: [
      { name: web, image: TEST_IMAGE, command: WEB_COMMAND, secretBundleId: 'app', environment: { MODE: v }, resources: { memoryLimitMB: 32 } },
      { name: api, image: TEST_IMAGE, command: WEB_COMMAND, environment: { MODE: v }, resources: { memoryLimitMB: 32 } },
    ],
  };
}

async function live(name: string): Promise<any> {
  return ((await docker.listServices({ filters: { name: [name] } })) as any[]).find((s) => s.Spec.Name === name);
}

async function cli(args: string[], spec: unknown) {
  const file = join(dir, `${uniqueName('spec')}.yaml`);
  await writeFile(file, stringify(spec));
  return runProcess('node', ['bin/coreflow.js', ...args, '--spec', file]);
}

t.test('--target service/web changes only web and what it needs (writes counted)', async (t) => {
  const first = await runOnce(docker, version('v1', 'one'));
  t.equal(first.status, 'succeeded');
  await settled(docker, cluster);
  const apiBefore = await live(api);

  const loaded = load(version('v2', 'two'));
  const inScope = targetScope(loaded.spec, [parseTarget(`service/${web}`)]);
  const reconciler = new Reconciler({ steps: defaultSteps(docker), desired: () => loaded, log: silentLogger(), controls: () => ({ inScope }) });
  calls.reset();
  const result = (await reconciler.trigger('test'))!;
  t.equal(result.status, 'succeeded');
  const writes = calls.snapshot();
  t.same(
    Object.entries(writes).filter(([op]) => !op.startsWith('GET ')).sort(),
    [['POST /secrets/create', 1], ['POST /services/{id}/update', 1]],
    `writes: web's new secret and web's update (its old secret is kept for a rollback while the update runs); nothing for ${api}`,
  );
  const leftOut = result.steps.flatMap((s) => s.actions).filter((a) => a.held?.by === 'target');
  t.same(leftOut.map((a) => `${a.held!.type} ${a.kind}/${a.name}`), [`update service/${api}`], 'says what it left out');
  t.same((await live(web)).Spec.TaskTemplate.ContainerSpec.Env, ['MODE=v2']);
  const apiAfter = await live(api);
  t.equal(apiAfter.Version.Index, apiBefore.Version.Index, `${api} untouched`);
  t.same(apiAfter.Spec.TaskTemplate.ContainerSpec.Env, ['MODE=v1']);
  await settled(docker, cluster);
});

t.test('the CLI: plan --target lists what it leaves out; apply --target applies only that', async (t) => {
  const spec = version('v3', 'two');
  const plan = await cli(['plan', '--target', `service/${api}`], spec);
  t.equal(plan.code, 2, plan.stderr);
  t.match(plan.stdout, `~ ${api}`);
  t.match(plan.stdout, /Left out \(not targeted\): \d object\(s\) with changes, not planned:/);
  t.match(plan.stdout, `~ service/${web}`);

  const webBefore = await live(web);
  const apply = await cli(['apply', '--target', `service/${api}`], spec);
  t.equal(apply.code, 0, apply.stderr);
  t.same((await live(api)).Spec.TaskTemplate.ContainerSpec.Env, ['MODE=v3']);
  t.equal((await live(web)).Version.Index, webBefore.Version.Index, `${web} untouched`);
  await settled(docker, cluster);
});

t.test('bad input: an unknown object or kind is refused before anything runs', async (t) => {
  const spec = version('v4', 'two');
  const before = [(await live(web)).Version.Index, (await live(api)).Version.Index];
  for (const target of ['service/no-such-service', 'pod/x']) {
    const r = await cli(['apply', '--target', target], spec);
    t.equal(r.code, 1, target);
    t.match(r.stderr, /unknown object .*nothing was changed \[COREFLOW_ERR_TARGET_UNKNOWN\]/, target);
  }
  t.same([(await live(web)).Version.Index, (await live(api)).Version.Index], before, 'nothing changed');
  for (const target of ['network/nope', 'secret/nope', 'volume/nope', 'dns/nope.example.com', 'service', 'service/']) {
    let err: unknown;
    try {
      targetScope(load(spec).spec, [parseTarget(target)]);
    } catch (e) {
      err = e;
    }
    t.ok(isCoreflowError(err, 'COREFLOW_ERR_TARGET_UNKNOWN'), `${target}: ${String(err)}`);
  }
  // Known objects of every kind are accepted: a bundle id stands for the secrets of its services.
  const scope = targetScope(load(spec).spec, ['secret/app', `network/${cluster}-gw`].map(parseTarget));
  t.ok(scope({ kind: 'secret', name: `${web}-secret-0123` }));
  t.ok(scope({ kind: 'network', name: `${cluster}-gw` }));
  t.notOk(scope({ kind: 'service', name: web }));
  const webScope = targetScope(load(spec).spec, [parseTarget(`service/${web}`)]);
  t.ok(webScope({ kind: 'binding', name: `${web}/postgres/db` }), 'a service needs its bindings');
  t.notOk(webScope({ kind: 'binding', name: `${api}/postgres/db` }));
});
