import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../../ts/agent.ts';
import { loadConfig } from '../../ts/config/config.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import type { AgentStatus } from '../../ts/observe/status.ts';
import { runProcess } from '../helpers/run-process.ts';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { suspensionOf } from '../../ts/object-controls.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import { cleanupCluster, connect, load, settled, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * Suspend and resume against the real swarm: an agent in-process (port 0), the CLI as a child
 * process, a hand-made change with the Docker API.
 */
const { docker } = await connect();
const doc = testDoc('cfsus');
const cluster = doc.cluster.name;
const web = uniqueName('cfsus-web');
doc.services = [{ name: web, image: TEST_IMAGE, command: WEB_COMMAND, environment: { MODE: 'desired' }, resources: { memoryLimitMB: 32 } }];
const dir = await mkdtemp(join(tmpdir(), 'cf-suspend-'));
const specPath = join(dir, 'spec.yaml');
await writeFile(specPath, stringify(doc));
const token = 'operator-token-0123456789';
const config = await loadConfig({ spec: specPath, stateDir: join(dir, 'state'), port: '0', host: '127.0.0.1', apiToken: token, resyncCron: '0 0 0 1 1 *' });
const agent = new Agent(config, silentLogger());
t.teardown(async () => {
  await agent.stop();
  await cleanupCluster(docker, cluster);
  await rm(dir, { recursive: true, force: true });
});
await agent.start();
const address = `127.0.0.1:${agent.server.port}`;

function cli(args: string[], env: Record<string, string> = { COREFLOW_API_TOKEN: token }) {
  return runProcess('node', ['bin/coreflow.js', ...args, '--agent', address], { env: { ...process.env, ...env } });
}

async function service(): Promise<any> {
  const [s] = await docker.listServices({ filters: { name: [web] } });
  return (s?.Spec?.Name === web ? s : undefined) as any;
}

function envOf(s: any): string[] {
  return s.Spec.TaskTemplate.ContainerSpec.Env ?? [];
}

async function status(): Promise<AgentStatus> {
  return (await (await fetch(`http://${address}/v1/status`)).json()) as AgentStatus;
}

t.test('a suspended service changed by hand stays changed and is reported as drifted; resumed, it is healed', async (t) => {
  const created = await waitFor('the service', service);
  t.ok(envOf(created).includes('MODE=desired'));
  await settled(docker, cluster);

  const suspended = await cli(['suspend', web]);
  t.equal(suspended.code, 0, suspended.stderr);
  t.match(suspended.stdout, `service ${web} suspended`);
  t.same(JSON.parse(await readFile(join(dir, 'state', 'suspended.json'), 'utf8')).suspended, [`service/${web}`], 'kept in the state directory');

  // A change by hand, through the API, as an operator would do it.
  const live = await service();
  const spec = structuredClone(live.Spec);
  spec.TaskTemplate.ContainerSpec.Env = ['MODE=by-hand'];
  await docker.getService(live.ID).update({ ...spec, version: live.Version.Index });
  await settled(docker, cluster);
  const writesBefore = agent.connection!.calls.writes();
  const result = await agent.reconcile('test: after a change by hand');
  const action = result!.steps.find((s) => s.kind === 'services')!.actions.find((a) => a.name === web)!;
  t.equal(action.type, 'skip', 'not healed');
  t.equal(action.held?.by, 'suspended');
  t.equal(action.held?.type, 'update', 'the planner saw the drift');
  t.match(action.reason, /suspended.*would update: drifted/);
  t.equal(agent.connection!.calls.writes(), writesBefore, 'no Docker write for the suspended service');
  const after = await service();
  t.same(envOf(after), ['MODE=by-hand'], 'the change by hand stays');
  const st = (await status()).objects.find((o) => o.kind === 'service' && o.name === web)!;
  t.equal(st.health, 'Suspended');
  t.equal(st.sync, 'OutOfSync', 'drift on it is reported');
  t.match(st.message, /drifted/);
  t.ok(agent.bus.recent().some((e) => e.type === 'drift.detected' && e.name === web && e.runId === result!.runId), 'drift.detected event');
  t.ok(agent.bus.recent().some((e) => e.type === 'suspend.changed' && e.name === web), 'suspend.changed event');

  const resumed = await cli(['resume', web]);
  t.equal(resumed.code, 0, resumed.stderr);
  const healed = await waitFor('the service healed', async () => {
    const s = await service();
    return envOf(s).includes('MODE=desired') ? s : undefined;
  });
  t.equal(healed.ID, created.ID, 'healed in place: same service ID');
  await waitFor('status synced', async () => {
    const o = (await status()).objects.find((x) => x.kind === 'service' && x.name === web);
    return o?.sync === 'Synced' && o.health !== 'Suspended';
  });
});

t.test('bad input: an unknown service, no token, a wrong token: clear errors, nothing suspended', async (t) => {
  const unknown = await cli(['suspend', 'no-such-service']);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /unknown object service\/no-such-service.*\[COREFLOW_ERR_TARGET_UNKNOWN\]/);
  const noToken = await cli(['suspend', web], {});
  t.equal(noToken.code, 1);
  t.match(noToken.stderr, /COREFLOW_API_TOKEN.*COREFLOW_ERR_HTTP_UNAUTHORIZED/);
  const wrong = await cli(['suspend', web], { COREFLOW_API_TOKEN: 'not-the-token-at-all' });
  t.equal(wrong.code, 1);
  t.same((await (await fetch(`http://${address}/v1/plans`)).json()).suspended, [], 'nothing suspended');
});

t.test('coreflow approve confirms the mass-deletion guard of a running agent; an unknown plan id is refused', async (t) => {
  const bogus = await cli(['approve', 'plan-bogus']);
  t.equal(bogus.code, 1);
  t.match(bogus.stderr, /no plan plan-bogus is waiting for approval.*\[COREFLOW_ERR_PLAN_UNKNOWN\]/);
  await writeFile(specPath, stringify({ ...doc, services: [] }));
  const plan = await waitFor('the guarded deletion waits as a plan', async () => (await status()).plan);
  t.equal(plan.why, 'mass-deletion');
  t.ok(await service(), 'not removed before the approval');
  const approved = await cli(['approve', plan.id]);
  t.equal(approved.code, 0, approved.stderr);
  t.match(approved.stdout, `plan ${plan.id} applied`);
  t.equal(await service(), undefined, 'removed once approved');
  t.equal((await status()).plan, undefined);
});

t.test('suspended: true in the document and suspend: { networks: true } hold objects back', async (t) => {
  const d = testDoc('cfsus2');
  const name = uniqueName('cfsus2-web');
  d.services = [{ name, image: TEST_IMAGE, command: WEB_COMMAND, suspended: true, resources: { memoryLimitMB: 32 } }];
  d.suspend = { networks: true };
  t.teardown(() => cleanupCluster(docker, d.cluster.name));
  const own = await connect();
  const loaded = load(d);
  const reconciler = new Reconciler({
    steps: defaultSteps(own.docker),
    desired: () => loaded,
    log: silentLogger(),
    controls: (l) => ({ suspended: suspensionOf(l.spec)! }),
  });
  const result = (await reconciler.trigger('test'))!;
  const { calls } = own;
  const actions = result.steps.flatMap((s) => s.actions);
  t.same(actions.filter((a) => a.type !== 'skip'), [], 'nothing created');
  t.same(actions.map((a) => [a.kind, a.held?.by, a.held?.type]).sort(), [['network', 'suspended', 'create'], ['network', 'suspended', 'create'], ['service', 'suspended', 'create']].sort());
  t.equal(calls.writes(), 0);
  t.equal((await docker.listServices({ filters: { name: [name] } })).filter((s) => s.Spec?.Name === name).length, 0, 'the service was not created');
});
