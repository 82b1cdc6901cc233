import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { CorestoreClient } from '../../ts/storage/corestore-client.ts';
import { corestoreTokenSource } from '../../ts/storage/corestore-token.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/**
 * The Corestore API token reaches the corestore base service as a Docker secret file (never an
 * environment value); a new token (the file rewritten) updates the service in place and the old
 * secret goes once the update completed.
 */
const exec = promisify(execFile);
const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-cstok-'));
const tokenFile = join(dir, 'token');
const doc = testDoc('cstok');
const id = doc.cluster.name;
const name = `${id}-corestore`;
t.teardown(() => cleanupCluster(docker, id));
const spec = {
  ...doc,
  baseServices: {
    ...(doc.baseServices as object),
    corestore: { enabled: true, name, image: TEST_IMAGE, command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"], mounts: [] },
  },
};
const token = corestoreTokenSource({ corestoreTokenFile: tokenFile });
const steps = () => defaultSteps(docker, { bindings: { provider: new CorestoreClient({ token }), release: false, token } });

async function taskToken(): Promise<string | undefined> {
  const tasks = await docker.listTasks({ filters: { service: [name], 'desired-state': ['running'] } });
  const cid = tasks.find((x) => x.Status?.State === 'running')?.Status?.ContainerStatus?.ContainerID;
  if (!cid) return undefined;
  return (await exec('docker', ['exec', cid, 'cat', '/run/secrets/corestore_api_token'])).stdout;
}

async function ownedSecrets(): Promise<string[]> {
  return (await docker.listSecrets({ filters: { label: [`coreflow.cluster=${id}`] } })).map((s) => s.Spec!.Name!).sort();
}

t.test('the token is a secret file of the corestore base service, rotated in place', async (t) => {
  const v1 = `tok1-${randomBytes(10).toString('hex')}`;
  const v2 = `tok2-${randomBytes(10).toString('hex')}`;
  await writeFile(tokenFile, `${v1}\n`);
  let r = await runOnce(docker, spec, { steps: steps() });
  t.equal(r.status, 'succeeded', JSON.stringify(r.steps));
  const first = await ownedSecrets();
  t.match(first, [/^corestore_api_token-[0-9a-f]{12}$/]);
  const svc = await docker.getService(name).inspect();
  const env: string[] = svc.Spec.TaskTemplate.ContainerSpec.Env ?? [];
  t.ok(env.includes('CORESTORE_API_TOKEN_FILE=/run/secrets/corestore_api_token'));
  t.notOk(JSON.stringify(svc).includes(v1), 'the token is nowhere in the service (env, labels)');
  t.equal(await waitFor('the task to read the token', taskToken, 60_000), v1);

  r = await runOnce(docker, spec, { steps: steps() });
  t.same([r.summary.creates, r.summary.updates, r.summary.deletes], [0, 0, 0], 'an unchanged token changes nothing');

  await writeFile(tokenFile, `${v2}\n`);
  r = await runOnce(docker, spec, { steps: steps() });
  t.equal(r.status, 'succeeded', JSON.stringify(r.steps));
  t.equal((await docker.getService(name).inspect()).ID, svc.ID, 'same service ID');
  t.equal(await waitFor('the task to read the new token', async () => ((await taskToken()) === v2 ? v2 : undefined), 60_000), v2);
  await waitFor('the update to complete', async () => (await docker.getService(name).inspect()).UpdateStatus?.State === 'completed', 60_000);
  r = await runOnce(docker, spec, { steps: steps() });
  const now = await ownedSecrets();
  t.equal(now.length, 1);
  t.not(now[0], first[0], 'the old token secret is removed');
  const inspect = (await exec('docker', ['secret', 'inspect', now[0]!])).stdout + JSON.stringify(r);
  t.notOk(inspect.includes(v1) || inspect.includes(v2), 'no token in the secret labels or the result');
});
