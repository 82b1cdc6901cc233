import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { runProcess, type ProcessOutput } from '../helpers/run-process.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/**
 * Rotation end to end through the CLI (a real child process, logs at trace level): a new
 * secret, the service updated in place, the task reading the new value from
 * /run/secrets/secret.json, the old secret removed, and the value nowhere else.
 */
const exec = promisify(execFile);
const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-secret-'));

const doc = testDoc('sec');
const id = doc.cluster.name;
const svc = `${id}-app`;
const file = join(dir, 'spec.yaml');
t.teardown(() => cleanupCluster(docker, id));

const v1 = `v1-${randomBytes(12).toString('hex')}`;
const v2 = `v2-${randomBytes(12).toString('hex')}`;
/** Everything the agent printed or stored, and what Docker shows about our objects. */
const seen: string[] = [];

function write(value: string): Promise<void> {
  const spec = {
    ...doc,
    secretBundles: [
      { id: 'app', values: { DB_PASSWORD: value, MODE: 'own' } },
      { id: 'shared', values: { MODE: 'shared', REGION: 'eu' } },
    ],
    services: [
      {
        name: svc,
        image: TEST_IMAGE,
        // Exits on SIGTERM at once, so the rolling update does not wait for the stop grace period.
        command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"],
        secretBundleId: 'app',
        additionalSecretBundleIds: ['shared'],
        update: { monitorSeconds: 1 },
      },
    ],
  };
  return writeFile(file, JSON.stringify(spec));
}

async function coreflow(args: string[]): Promise<ProcessOutput> {
  const out = await runProcess('node', ['bin/coreflow.js', ...args, '--spec', file], { env: { ...process.env, COREFLOW_LOG_LEVEL: 'trace' } });
  seen.push(out.stdout, out.stderr);
  return out;
}

async function docker_(...args: string[]): Promise<string> {
  const r = await exec('docker', args);
  return r.stdout;
}

async function ownedSecrets(): Promise<string[]> {
  const list = await docker.listSecrets({ filters: { label: [`coreflow.cluster=${id}`] } });
  return list.map((s) => s.Spec!.Name!).sort();
}

/** The secret.json a running task of the service sees (docker exec into its container). */
async function taskSecret(): Promise<string | undefined> {
  const tasks = await docker.listTasks({ filters: { service: [svc], 'desired-state': ['running'] } });
  const running = tasks.find((x) => x.Status?.State === 'running');
  const cid = running?.Status?.ContainerStatus?.ContainerID;
  if (!cid) return undefined;
  return docker_('exec', cid, 'cat', '/run/secrets/secret.json');
}

let firstSecret = '';
let serviceId = '';

t.test('apply creates the secret and mounts it as /run/secrets/secret.json', async (t) => {
  await write(v1);
  const out = await coreflow(['apply', '--json']);
  t.equal(out.code, 0, out.stderr);
  const secrets = await ownedSecrets();
  t.equal(secrets.length, 1);
  firstSecret = secrets[0]!;
  t.match(firstSecret, new RegExp(`^${svc}-secret-[0-9a-f]{12}$`));
  serviceId = (await docker.getService(svc).inspect()).ID;
  const content = await waitFor('the task to read its secret', taskSecret);
  t.same(JSON.parse(content), { DB_PASSWORD: v1, MODE: 'own', REGION: 'eu' }, 'merged: the own bundle wins over additional ones');
});

t.test('an unchanged bundle changes nothing', async (t) => {
  const out = await coreflow(['plan']);
  t.equal(out.code, 0, `plan exit 0 means no changes:\n${out.stdout}`);
});

t.test('rotation: plan shows (sensitive); apply makes a new secret and updates the service in place', async (t) => {
  await write(v2);
  const plan = await coreflow(['plan']);
  t.equal(plan.code, 2, plan.stderr);
  t.match(plan.stdout, 'secret.json (sensitive)');
  t.match(plan.stdout, `~ ${svc}`);

  const out = await coreflow(['apply', '--json']);
  t.equal(out.code, 0, out.stderr);
  const result = JSON.parse(out.stdout);
  const secretStep = result.steps.find((s: { kind: string }) => s.kind === 'secrets');
  t.equal(secretStep.actions[0].type, 'create');
  t.equal(secretStep.actions[0].status, 'succeeded');
  t.equal((await docker.getService(svc).inspect()).ID, serviceId, 'same service ID');

  const secrets = await ownedSecrets();
  t.ok(secrets.includes(firstSecret), 'the old secret is kept while the rolling update may still roll back');
  const second = secrets.find((s) => s !== firstSecret)!;
  t.ok(second, 'a new secret');
  const mounted = (await docker.getService(svc).inspect()).Spec.TaskTemplate.ContainerSpec.Secrets;
  t.same(mounted.map((s: { SecretName: string }) => s.SecretName), [second]);

  const content = await waitFor('the task to see the new value', async () => {
    const c = await taskSecret();
    return c?.includes(v2) ? c : undefined;
  }, 60_000);
  t.equal(JSON.parse(content).DB_PASSWORD, v2);
});

t.test('once the update completed, the next run removes the old secret', async (t) => {
  await waitFor('the update to complete', async () => (await docker.getService(svc).inspect()).UpdateStatus?.State === 'completed', 60_000);
  const out = await coreflow(['apply']);
  t.equal(out.code, 0, out.stderr);
  t.match(out.stdout, `- ${firstSecret}`);
  const secrets = await ownedSecrets();
  t.equal(secrets.length, 1);
  t.not(secrets[0], firstSecret, 'the old secret is gone');
  t.equal((await docker.getService(svc).inspect()).ID, serviceId);
});

t.test('no secret value anywhere: CLI output, logs, results, labels, service and secret inspect, events', async (t) => {
  const secrets = await docker.listSecrets({ filters: { label: [`coreflow.cluster=${id}`] } });
  seen.push(await docker_('service', 'inspect', svc));
  for (const s of secrets) seen.push(await docker_('secret', 'inspect', s.ID!));
  seen.push(await docker_('events', '--since', '10m', '--until', '0s', '--filter', 'type=secret', '--filter', 'type=service', '--format', '{{json .}}'));
  const all = seen.join('\n');
  t.ok(all.length > 1000, 'collected the output');
  t.match(all, firstSecret, 'the collection includes the secret names (sanity check)');
  for (const v of [v1, v2]) {
    t.notOk(all.includes(v), `value ${v.slice(0, 3)}... is not in anything printed or stored`);
    t.notOk(all.includes(Buffer.from(v).toString('base64').slice(0, 20)), 'nor its base64');
  }
});
