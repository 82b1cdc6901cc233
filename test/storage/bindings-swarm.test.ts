import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { FakeCorestore } from '../fakes/corestore.ts';
import { runProcess, type ProcessOutput } from '../helpers/run-process.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/**
 * Platform bindings end to end through the CLI (a real child process, logs at trace level)
 * against the Corestore fake and the real swarm: provisioning with the token, the values in
 * secret.json inside a running task, a no-op second run, a rotated credential rotating the
 * secret in place, Corestore down failing only the bound service, and the credential (the
 * fake's marker) in nothing printed or stored.
 */
const exec = promisify(execFile);
const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-bind-'));
const fake = await FakeCorestore.start();
t.teardown(() => fake.close());

const doc = testDoc('bnd');
const id = doc.cluster.name;
const svc = `${id}-app`;
const plain = `${id}-plain`;
const newcomer = `${id}-new`;
const file = join(dir, 'spec.yaml');
t.teardown(() => cleanupCluster(docker, id));
const seen: string[] = [];
const waitingCommand = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"];

function write(extra: object[] = []): Promise<void> {
  const spec = {
    ...doc,
    services: [
      {
        name: svc,
        image: TEST_IMAGE,
        command: waitingCommand,
        bindings: [{ type: 'database' }, { type: 'objectstorage', name: `${id}-media` }],
        update: { monitorSeconds: 1 },
      },
      { name: plain, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 },
      ...extra,
    ],
  };
  return writeFile(file, JSON.stringify(spec));
}

async function coreflow(args: string[]): Promise<ProcessOutput> {
  const env = { ...process.env, COREFLOW_LOG_LEVEL: 'trace', CORESTORE_CONTROL_URL: fake.url, CORESTORE_API_TOKEN: fake.token };
  const out = await runProcess('node', ['bin/coreflow.js', ...args, '--spec', file], { env });
  seen.push(out.stdout, out.stderr);
  return out;
}

async function taskSecret(): Promise<Record<string, string> | undefined> {
  const tasks = await docker.listTasks({ filters: { service: [svc], 'desired-state': ['running'] } });
  const cid = tasks.find((x) => x.Status?.State === 'running')?.Status?.ContainerStatus?.ContainerID;
  if (!cid) return undefined;
  const r = await exec('docker', ['exec', cid, 'cat', '/run/secrets/secret.json']);
  return JSON.parse(r.stdout) as Record<string, string>;
}

async function ownedSecrets(): Promise<string[]> {
  const list = await docker.listSecrets({ filters: { label: [`coreflow.cluster=${id}`] } });
  return list.map((s) => s.Spec!.Name!).sort();
}

interface Result {
  status: string;
  summary: { creates: number; updates: number; deletes: number };
  steps: { kind: string; status: string; code?: string; error?: string; actions: { kind: string; name: string; type: string; status: string; code?: string; error?: string; reason: string }[] }[];
}

let serviceId = '';
let firstSecret = '';

t.test('a service with a database and an objectstorage binding: provisioned with the token, values in secret.json', async (t) => {
  await write();
  const out = await coreflow(['apply', '--json']);
  t.equal(out.code, 0, out.stderr);
  const provisions = fake.writes();
  t.same(provisions.map((r) => `${r.method} ${r.path}`).sort(), [`PUT /v1/bindings/database/${svc}`, `PUT /v1/bindings/objectstorage/${id}-media`]);
  t.ok(fake.requests.every((r) => r.authorization === `Bearer ${fake.token}`), 'every call carries the token');
  t.same(provisions[0]!.body, { owner: { cluster: id, service: svc }, options: {} });
  const db = fake.binding('database', svc)!;
  const s3 = fake.binding('objectstorage', `${id}-media`)!;
  const values = await waitFor('the task to read its secret', taskSecret, 60_000);
  t.same(values, { ...db.env, ...s3.env }, 'secret.json holds exactly the provisioned values');
  t.match(values.MONGODB_URI, fake.marker);
  t.ok(values.AWS_SECRET_ACCESS_KEY && values.S3_BUCKET && values.AWS_ENDPOINT_URL && values.S3_ENDPOINT && values.AWS_ACCESS_KEY_ID);
  serviceId = (await docker.getService(svc).inspect()).ID;
  firstSecret = (await ownedSecrets())[0]!;
});

t.test('a second run provisions nothing and writes nothing to Docker', async (t) => {
  const before = fake.writes().length;
  const out = await coreflow(['apply', '--json']);
  t.equal(out.code, 0, out.stderr);
  const r = JSON.parse(out.stdout) as Result;
  t.equal(fake.writes().length, before, 'no provisioning call');
  t.same([r.summary.creates, r.summary.updates, r.summary.deletes], [0, 0, 0], 'no Docker write');
  const bindings = r.steps.find((s) => s.kind === 'bindings')!;
  t.same(bindings.actions.map((a) => [a.name, a.type, a.status]), [
    [`${svc}/database/${svc}`, 'skip', 'skipped'],
    [`${svc}/objectstorage/${id}-media`, 'skip', 'skipped'],
  ]);
  t.match(bindings.actions[0]!.reason, /^ready at mongodb:\/\/corestore:27017\/.* \(credential db-.*\/cred-1\)$/, 'the reason has the endpoint and credential reference');
});

t.test('a rotated credential rotates the secret in place; the old secret is removed', async (t) => {
  const rotated = fake.rotate('database', svc);
  const out = await coreflow(['apply', '--json']);
  t.equal(out.code, 0, out.stderr);
  t.equal((await docker.getService(svc).inspect()).ID, serviceId, 'same service ID');
  const values = await waitFor('the task to see the new credential', async () => {
    const v = await taskSecret();
    return v?.MONGODB_URI === rotated.env.MONGODB_URI ? v : undefined;
  }, 60_000);
  t.equal(values.MONGODB_URI, rotated.env.MONGODB_URI);
  await waitFor('the update to complete', async () => (await docker.getService(svc).inspect()).UpdateStatus?.State === 'completed', 60_000);
  const again = await coreflow(['apply']);
  t.equal(again.code, 0, again.stderr);
  const secrets = await ownedSecrets();
  t.equal(secrets.length, 1);
  t.not(secrets[0], firstSecret, 'the old secret is gone');
});

t.test('Corestore unreachable: the bound service fails with the reason, the others deploy, the running one keeps running', async (t) => {
  const secretsBefore = await ownedSecrets();
  const mountedBefore = (await docker.getService(svc).inspect()).Spec.TaskTemplate.ContainerSpec.Secrets;
  fake.inject({ status: 503, times: Infinity });
  t.teardown(() => fake.clearFailures());
  // A changed bound service and a new plain one: only the bound one waits for Corestore.
  await write([{ name: newcomer, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 }]);
  const out = await coreflow(['apply', '--json']);
  t.equal(out.code, 1, 'the run is partial');
  const r = JSON.parse(out.stdout) as Result;
  const bindings = r.steps.find((s) => s.kind === 'bindings')!;
  t.same(bindings.actions.map((a) => [a.name, a.status, a.code]), [
    [`${svc}/database/${svc}`, 'failed', 'COREFLOW_ERR_CORESTORE_API'],
    [`${svc}/objectstorage/${id}-media`, 'failed', 'COREFLOW_ERR_CORESTORE_API'],
  ], 'each binding fails with the reason');
  const services = r.steps.find((s) => s.kind === 'services')!;
  const bound = services.actions.find((a) => a.name === svc)!;
  t.equal(bound.status, 'failed');
  t.equal(bound.code, 'COREFLOW_ERR_CORESTORE_API');
  t.match(bound.error, /Corestore list bindings of cluster .* failed \(503\)/);
  t.equal(services.actions.find((a) => a.name === newcomer)!.status, 'succeeded', 'the other service deploys');
  t.ok(await docker.getService(newcomer).inspect());
  const after = await docker.getService(svc).inspect();
  t.equal(after.ID, serviceId);
  t.same(after.Spec.TaskTemplate.ContainerSpec.Secrets, mountedBefore, 'it keeps its last secret');
  t.same(await ownedSecrets(), secretsBefore, 'its secret is not pruned');
  t.ok(await taskSecret(), 'its task still runs');
});

t.test('the credential is in nothing printed or stored', async (t) => {
  const secrets = await docker.listSecrets({ filters: { label: [`coreflow.cluster=${id}`] } });
  for (const name of [svc, plain, newcomer]) seen.push((await exec('docker', ['service', 'inspect', name])).stdout);
  for (const s of secrets) seen.push((await exec('docker', ['secret', 'inspect', s.ID!])).stdout);
  const all = seen.join('\n');
  t.ok(all.length > 1000, 'collected the output');
  t.match(all, `${svc}-secret-`, 'the collection includes the secret names (sanity check)');
  t.notOk(all.includes(fake.marker), 'no credential value');
  t.notOk(all.includes(fake.token), 'no token');
});
