import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { boundPort, httpJson, startCoreflow, type CoreflowProc } from '../helpers/controlplane-procs.ts';
import { pushVariant, REGISTRY, registryCredentials, removePulledImages } from '../helpers/registry.ts';
import { runProcess } from '../helpers/run-process.ts';
import { cleanupCluster, connect, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * `coreflow redeploy SERVICE` against a running agent, and the control plane's redeployService:
 * real processes (reference control plane, agent in control-plane mode, the CLI), the real swarm
 * and the private registry.
 */
const { docker } = await connect();
const creds = await registryCredentials();
const doc = testDoc('cfredeploy');
const cluster = doc.cluster.name;
const app = `${cluster}-app`;
const repo = uniqueName('cfredeploy');
const ref = `${REGISTRY}/${repo}:stable`;
const digestA = await pushVariant(ref, `A ${repo}`);
Object.assign(doc, {
  images: { resolve: 'always' },
  registries: [{ id: 'private', url: REGISTRY, username: creds.username, password: creds.password }],
  services: [{ name: app, image: `${repo}:stable`, registry: 'private', command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"] }],
});
const dir = await mkdtemp(join(tmpdir(), 'cf-redeploy-'));
const specPath = join(dir, 'spec.yaml');
const tokenPath = join(dir, 'token');
const apiTokenPath = join(dir, 'api-token');
const token = `tok-${cluster}-0123456789abcdef`;
const apiToken = `api-${cluster}-0123456789abcdef`;
await writeFile(specPath, stringify(doc));
await writeFile(tokenPath, `${token}\n`);
await writeFile(apiTokenPath, `${apiToken}\n`);
const procs: CoreflowProc[] = [];
t.teardown(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await cleanupCluster(docker, cluster);
  await removePulledImages(`${REGISTRY}/${repo}`);
  await rm(dir, { recursive: true, force: true });
});

const cp = startCoreflow(['controlplane', '--spec', specPath, '--addr', '127.0.0.1:0', '--token-file', tokenPath]);
procs.push(cp);
const cpPort = await boundPort(cp, 'control plane listening');
const agent = startCoreflow(['agent', '--host', '127.0.0.1', '--port', '0', '--state-dir', join(dir, 'state')], {
  CLOUDLY_URL: `ws://127.0.0.1:${cpPort}`,
  JUMPCODE: token,
  COREFLOW_API_TOKEN: apiToken,
  COREFLOW_RESYNC_CRON: '0 0 0 1 1 *',
});
procs.push(agent);
const agentPort = await boundPort(agent, 'internal server listening');
await agent.waitForLog('the first run', (l) => l.msg === 'run finished');

const inspect = () => docker.getService(app).inspect();
const cli = (args: string[], env: Record<string, string> = {}) =>
  runProcess(process.execPath, ['bin/coreflow.js', 'redeploy', ...args], { cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, ...env } });

t.test('coreflow redeploy: a re-pushed tag is rolled out in place at once', async (t) => {
  const before = await inspect();
  t.equal(before.Spec.TaskTemplate.ContainerSpec.Image, `${ref}@${digestA}`, 'created pinned to A');
  const same = await cli([app, '--agent', `127.0.0.1:${agentPort}`, '--token-file', apiTokenPath]);
  t.equal(same.code, 0, same.stderr);
  t.match(same.stdout, `= ${app}  unchanged`, 'nothing re-pushed: nothing to do');
  t.equal((await inspect()).Version.Index, before.Version.Index, 'no write');

  const digestB = await pushVariant(ref, `B ${repo}`);
  const plan = await runProcess(process.execPath, ['bin/coreflow.js', 'plan', '--spec', specPath], { cwd: new URL('../..', import.meta.url).pathname });
  t.equal(plan.code, 2, 'plan: changes');
  t.match(plan.stdout, new RegExp(`~ ${app} +spec changed: image: ${ref.replace(/\./g, '\\.')}@${digestA} -> @${digestB}`), 'plan shows the digest change with the tag');
  const out = await cli([app, '--agent', `127.0.0.1:${agentPort}`, '--token-file', apiTokenPath]);
  t.equal(out.code, 0, out.stderr);
  t.match(out.stdout, `~ ${app}  spec changed: image: ${ref}@${digestA} -> @${digestB}  [succeeded]`);
  const after = await inspect();
  t.equal(after.ID, before.ID, 'same service');
  t.equal(after.Spec.TaskTemplate.ContainerSpec.Image, `${ref}@${digestB}`);
});

t.test('the control plane asks for the same (redeployService)', async (t) => {
  const digestC = await pushVariant(ref, `C ${repo}`);
  const answer = await httpJson('POST', `http://127.0.0.1:${cpPort}/v1/services/redeploy`, token, { service: app });
  t.equal(answer.status, 200, JSON.stringify(answer.body));
  const agents = answer.body.agents as { answer?: { action: string; status: string; diff: string[] } }[];
  t.equal(agents.length, 1);
  t.match(agents[0]!.answer, { action: 'update', status: 'succeeded' });
  t.match(agents[0]!.answer!.diff[0], `-> @${digestC}`);
  await waitFor('the service pinned to C', async () => (await inspect()).Spec.TaskTemplate.ContainerSpec.Image === `${ref}@${digestC}`);
  const unknown = await httpJson('POST', `http://127.0.0.1:${cpPort}/v1/services/redeploy`, token, { service: 'nope' });
  t.equal(unknown.status, 404);
});

t.test('refusals: wrong token, no token, unknown service', async (t) => {
  const wrong = await cli([app, '--agent', `127.0.0.1:${agentPort}`], { COREFLOW_API_TOKEN: 'wrong-token-0123456789' });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, 'the agent answered 401');
  const none = await cli([app, '--agent', `127.0.0.1:${agentPort}`], { COREFLOW_API_TOKEN: '' });
  t.equal(none.code, 1);
  t.match(none.stderr, 'COREFLOW_API_TOKEN');
  const unknown = await cli(['nope', '--agent', `127.0.0.1:${agentPort}`, '--token-file', apiTokenPath]);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, 'the agent answered 404: no service nope in the desired state');
  const anonymous = await httpJson('POST', `http://127.0.0.1:${agentPort}/v1/redeploy`, undefined, { service: app });
  t.equal(anonymous.status, 401);
});

t.test('no secret in what the processes said', async (t) => {
  const said = JSON.stringify([agent.logs, cp.logs, agent.stdout]);
  t.notOk(said.includes(creds.password), 'no registry password');
  t.notOk(said.includes(apiToken), 'no API token');
});
