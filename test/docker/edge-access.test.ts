import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { buildDockerModel } from '../../ts/docker/desired-model.ts';
import type { EdgeAccess } from '../../ts/docker/edge-access.ts';
import { cleanupCluster, connect, load, runOnce, settled, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * The coretraffic base service out of the box: the agent's /v1/edge URL in its environment, the
 * agent's network joined, and the edge token as a Docker secret file, never an env value; a new
 * token rotates the secret like the workload secrets (same service ID, old secret removed).
 */

const exec = promisify(execFile);
const conn = await connect();
const { docker, calls } = conn;
const TOKEN_1 = `edge-token-one-${uniqueName('m')}`;
const TOKEN_2 = `edge-token-two-${uniqueName('m')}`;

const doc = testDoc('cfedge');
const cluster = doc.cluster.name;
const traffic = `${cluster}-traffic`;
doc.baseServices = {
  coretraffic: { name: traffic, image: TEST_IMAGE, command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"], ports: [] },
  corelog: { enabled: false },
  corestore: { enabled: false },
};
const agentNet = uniqueName('cfedge-agentnet');
t.teardown(async () => {
  await cleanupCluster(docker, cluster);
  await docker.getNetwork(agentNet).remove().catch(() => undefined);
});

t.test('the model: URL and token file in the env, the token only as a secret\'s content', async (t) => {
  const model = buildDockerModel(load(doc).spec, undefined, undefined, undefined, undefined, { url: 'ws://coreflow_agent:3000/v1/edge', network: 'coreflow_agent', token: TOKEN_1 });
  const svc = model.baseServices.find((s) => s.name === traffic)!;
  const c = svc.spec.TaskTemplate.ContainerSpec;
  t.ok(c.Env?.includes('COREFLOW_EDGE_URL=ws://coreflow_agent:3000/v1/edge'));
  t.ok(c.Env?.includes('COREFLOW_EDGE_TOKEN_FILE=/run/secrets/coreflow_edge_token'));
  t.match(c.Secrets, [{ SecretName: new RegExp(`^${traffic}-edge-token-[0-9a-f]{12}$`), File: { Name: 'coreflow_edge_token', Mode: 0o444 } }]);
  t.ok(svc.spec.TaskTemplate.Networks?.some((n) => n.Target === 'coreflow_agent'), 'joins the agent\'s network');
  t.notOk(JSON.stringify(svc).includes(TOKEN_1), 'the token is nowhere in the service spec');
  const secret = model.baseSecrets.find((s) => s.service === traffic)!;
  t.equal(secret.content, TOKEN_1);
  t.ok(model.secretNames.has(secret.name));
  const none = buildDockerModel(load(doc).spec);
  t.notOk(none.baseSecrets.some((s) => s.service === traffic), 'no token: no secret');
  t.notOk(none.baseServices[0]!.spec.TaskTemplate.ContainerSpec.Env?.some((e) => e.startsWith('COREFLOW_EDGE')));
});

t.test('on the swarm: the task reads the token file; a new token rotates it in place; a no-op writes nothing', async (t) => {
  await docker.createNetwork({ Name: agentNet, Driver: 'overlay', Attachable: true, Labels: { 'coreflow-test': 'edge-access' } });
  let edge: EdgeAccess = { url: 'ws://coreflow_agent:3000/v1/edge', network: agentNet, token: TOKEN_1 };
  const steps = () => defaultSteps(docker, { edge: () => edge });
  const first = await runOnce(docker, doc, { steps: steps() });
  t.equal(first.status, 'succeeded', JSON.stringify(first.steps.map((s) => [s.kind, s.status, s.error])));
  const [svc] = await docker.listServices({ filters: { name: [traffic] } });
  const env = (svc!.Spec!.TaskTemplate as { ContainerSpec?: { Env?: string[] } }).ContainerSpec?.Env ?? [];
  t.ok(env.includes('COREFLOW_EDGE_URL=ws://coreflow_agent:3000/v1/edge'));
  const inspected = JSON.stringify(await docker.getService(svc!.ID).inspect());
  t.notOk(inspected.includes(TOKEN_1), 'docker service inspect shows no token');

  const readToken = async () => {
    const tasks = await docker.listTasks({ filters: { service: [traffic], 'desired-state': ['running'] } });
    const running = tasks.find((x) => x.Status?.State === 'running' && x.Status?.ContainerStatus?.ContainerID);
    if (!running) return undefined;
    const out = await exec('docker', ['exec', running.Status!.ContainerStatus!.ContainerID!, 'cat', '/run/secrets/coreflow_edge_token']).catch(() => undefined);
    return out?.stdout;
  };
  t.equal(await waitFor('the task reads its token file', readToken, 60_000), TOKEN_1);

  await settled(docker, cluster);
  calls.reset();
  const again = await runOnce(docker, doc, { steps: steps() });
  t.match(again.summary, { creates: 0, updates: 0, deletes: 0 });
  t.equal(calls.writes(), 0, `writes: ${JSON.stringify(calls.snapshot())}`);

  edge = { ...edge, token: TOKEN_2 };
  const rotated = await runOnce(docker, doc, { steps: steps() });
  t.equal(rotated.status, 'succeeded');
  const [after] = await docker.listServices({ filters: { name: [traffic] } });
  t.equal(after!.ID, svc!.ID, 'updated in place');
  t.equal(await waitFor('the new token in the task', async () => ((await readToken()) === TOKEN_2 ? TOKEN_2 : undefined), 60_000), TOKEN_2);
  await settled(docker, cluster);
  await runOnce(docker, doc, { steps: steps() });
  const secrets = await docker.listSecrets({ filters: { label: [`coreflow.cluster=${cluster}`] } });
  t.equal(secrets.length, 1, 'the old token secret is gone');
  t.match(secrets[0]!.Spec!.Name, new RegExp(`^${traffic}-edge-token-`));
});
