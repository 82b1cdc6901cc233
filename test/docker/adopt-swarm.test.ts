import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { LABEL_CLUSTER, LABEL_HASH, LABEL_MANAGED_BY } from '../../ts/docker/labels.ts';
import { parseSpec } from '../../ts/spec/spec-text.ts';
import { runProcess } from '../helpers/run-process.ts';
import { connect, TEST_IMAGE, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * A stack deployed by `docker stack deploy` is exported and adopted: no task restarts, the
 * service IDs stay, the next plan is empty and a change of the spec is applied in place. Bad
 * input (another owner, an unknown stack, a differing spec) changes nothing.
 */

const SECRET_MARKER = `adopt-marker-${uniqueName('v')}`;

const coreflow = (...args: string[]) => runProcess('node', ['bin/coreflow.js', ...args, '--log-level', 'error']);

t.test('export and adopt a docker stack in place', async (t) => {
  const { docker } = await connect();
  const stack = uniqueName('adst').replace(/-/g, '');
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-adopt-'));
  const names = ['web', 'db', 'worker'].map((s) => `${stack}_${s}`);
  t.teardown(async () => {
    await runProcess('docker', ['stack', 'rm', stack]);
    // The stack's volume and secret go once its containers are gone.
    await waitFor('stack removed', async () => (await docker.listServices({ filters: { label: [`com.docker.stack.namespace=${stack}`] } })).length === 0, 30_000);
    await waitFor('stack volume removed', async () => {
      await docker.getVolume(`${stack}_data`).remove().catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 404) throw e;
      });
      return true;
    }, 30_000);
    await rm(dir, { recursive: true, force: true });
  });

  await writeFile(join(dir, 'pw.txt'), SECRET_MARKER);
  await writeFile(
    join(dir, 'stack.yml'),
    `version: "3.8"
services:
  web:
    image: ${TEST_IMAGE}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    environment: { MODE: blue, LEVEL: "2" }
    deploy: { replicas: 2 }
  db:
    image: ${TEST_IMAGE}
    command: ["sleep", "100000"]
    secrets: [pw]
    volumes: ["data:/data"]
    stop_grace_period: 2s
  worker:
    image: ${TEST_IMAGE}
    command: ["sleep", "100000"]
    deploy:
      update_config: { parallelism: 2, failure_action: rollback, order: start-first, monitor: 3s }
      restart_policy: { condition: on-failure, delay: 1s, max_attempts: 3 }
      resources: { limits: { memory: 64M } }
secrets:
  pw: { file: ./pw.txt }
volumes:
  data: {}
`,
  );
  const deployed = await runProcess('docker', ['stack', 'deploy', '--resolve-image', 'never', '--detach=true', '-c', 'stack.yml', stack], { cwd: dir });
  t.equal(deployed.code, 0, deployed.stderr);
  const taskIds = async () =>
    (await docker.listTasks({ filters: { label: [`com.docker.stack.namespace=${stack}`] } })).map((x) => x.ID as string).sort();
  const running = await waitFor('3 running tasks of the stack', async () => {
    const tasks = await docker.listTasks({ filters: { label: [`com.docker.stack.namespace=${stack}`], 'desired-state': ['running'] } });
    return tasks.length === 4 && tasks.every((x) => x.Status?.State === 'running') && tasks;
  }, 60_000);
  t.ok(running);
  const before = await taskIds();
  const ids = Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await docker.getService(n).inspect()).ID as string])));

  await t.test('bad input: an unknown stack is refused, naming the stacks that run', async (t) => {
    const out = await coreflow('export', '--stack', `${stack}nope`);
    t.equal(out.code, 1);
    t.match(out.stderr, `stack ${stack}nope (label com.docker.stack.namespace) matches no running service`);
    t.match(out.stderr, stack, 'the stacks that run are named');
    t.match(out.stderr, 'COREFLOW_ERR_STACK_NOT_FOUND');
  });

  await t.test('export by name or label; an unknown service name is refused', async (t) => {
    const one = await coreflow('export', '--services', `${stack}_web`);
    t.equal(one.code, 0, one.stderr);
    t.same(parseSpec(one.stdout).spec.services.map((s) => s.name), [`${stack}_web`], 'only the named service');
    const byLabel = await coreflow('export', '--services', `com.docker.stack.namespace=${stack}`);
    t.equal(parseSpec(byLabel.stdout).spec.services.length, 3, 'every service with the label');
    const unknown = await coreflow('export', '--services', `${stack}_web,${stack}_nope`);
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, `service ${stack}_nope matches no running service`);
  });

  // Export: a valid spec, with the secret referenced by name (never its value) and the notes on top.
  const specFile = join(dir, 'spec.yaml');
  const exported = await coreflow('export', '--stack', stack, '--cluster', stack, '--out', specFile);
  t.equal(exported.code, 0, exported.stderr);
  const text = await readFile(specFile, 'utf8');
  t.match(text, /^# coreflow spec exported from stack /, 'a comment on top says where it came from');
  t.notMatch(text, SECRET_MARKER, 'the secret value is not in the export');
  const spec = parseSpec(text).spec;
  const db = spec.services.find((s) => s.name === `${stack}_db`)!;
  t.same(db.externalSecrets, [{ name: `${stack}_pw`, target: 'pw', uid: '0', gid: '0', mode: 0o444 }], 'the stack secret is referenced by name');
  t.same(db.volumes.map((v) => [v.name, v.mountPath, v.external]), [[`${stack}_data`, '/data', true]], 'the stack volume is referenced by name');
  t.same(spec.networks.gateway, { name: `${stack}_default`, external: true }, "the stack's network is used, never created");
  const worker = spec.services.find((s) => s.name === `${stack}_worker`)!;
  t.same(worker.update, { parallelism: 2, failureAction: 'rollback', order: 'start-first', monitorSeconds: 3 });
  t.same(worker.restartPolicy, { condition: 'on-failure', delay: '1s', maxAttempts: 3 });
  t.equal(worker.resources.memoryLimitMB, 64);

  await t.test('bad input: a spec that differs is refused field by field, nothing changed', async (t) => {
    const doc = parse(text) as { services: { name: string; environment: Record<string, string>; scaleFactor?: number }[] };
    const web = doc.services.find((s) => s.name === `${stack}_web`)!;
    web.environment.MODE = 'green';
    web.scaleFactor = 3;
    const file = join(dir, 'differs.yaml');
    await writeFile(file, JSON.stringify(doc));
    const out = await coreflow('adopt', '--spec', file);
    t.equal(out.code, 1);
    t.match(out.stderr, 'COREFLOW_ERR_ADOPT_DIFFERS');
    t.match(out.stderr, `${stack}_web: ContainerSpec.Env: variables MODE differ`);
    t.match(out.stderr, `${stack}_web: Mode.Replicated.Replicas: spec 3, live 2`);
    t.notMatch(out.stderr, 'green', 'environment values are not printed');
    for (const n of names) t.notOk((await docker.getService(n).inspect()).Spec.Labels[LABEL_MANAGED_BY], `${n} not labelled`);
  });

  await t.test('bad input: a service of the spec that does not run is refused, nothing changed', async (t) => {
    const doc = parse(text) as { services: { name: string }[] };
    doc.services[0]!.name = `${stack}_gone`;
    const file = join(dir, 'missing.yaml');
    await writeFile(file, JSON.stringify(doc));
    const out = await coreflow('adopt', '--spec', file);
    t.equal(out.code, 1);
    t.match(out.stderr, `${stack}_gone: no such service runs`);
    t.match(out.stderr, 'COREFLOW_ERR_ADOPT_MISSING');
    for (const n of names) t.notOk((await docker.getService(n).inspect()).Spec.Labels[LABEL_MANAGED_BY], `${n} not labelled`);
  });

  // Adopt: labels only, at the inspected version; no task restarts, same IDs.
  const adopted = await coreflow('adopt', '--spec', specFile);
  t.equal(adopted.code, 0, adopted.stderr);
  t.notMatch(adopted.stdout + adopted.stderr, SECRET_MARKER, 'no secret value in what adopt prints');
  for (const n of names) {
    const s = await docker.getService(n).inspect();
    t.equal(s.ID, ids[n], `${n}: same service ID`);
    t.equal(s.Spec.Labels[LABEL_CLUSTER], stack, `${n}: owned by the cluster`);
    t.ok(s.Spec.Labels[LABEL_HASH], `${n}: carries the spec hash`);
    t.equal(s.Spec.Labels['com.docker.stack.namespace'], stack, `${n}: keeps its own labels`);
  }
  t.same(await taskIds(), before, 'no task was started or stopped by adopting');

  const plan = await coreflow('plan', '--spec', specFile);
  t.equal(plan.code, 0, `the next plan is empty: ${plan.stdout}${plan.stderr}`);
  t.match(plan.stdout, 'Plan: 0 to create, 0 to update, 0 to delete');

  const again = await coreflow('adopt', '--spec', specFile);
  t.equal(again.code, 0, 'adopting again is a no-op');
  t.match(again.stdout, 'already owned');

  await t.test('bad input: a service owned by another coreflow cluster is refused, nothing changed', async (t) => {
    const doc = parse(text) as { cluster: { name: string } };
    doc.cluster.name = `${stack}other`;
    const file = join(dir, 'other.yaml');
    await writeFile(file, JSON.stringify(doc));
    const versions = await Promise.all(names.map(async (n) => (await docker.getService(n).inspect()).Version.Index));
    const out = await coreflow('adopt', '--spec', file);
    t.equal(out.code, 1);
    t.match(out.stderr, `is owned by coreflow cluster ${stack}, not ${stack}other; nothing was adopted`);
    t.match(out.stderr, 'COREFLOW_ERR_ADOPT_OWNED_ELSEWHERE');
    t.same(await Promise.all(names.map(async (n) => (await docker.getService(n).inspect()).Version.Index)), versions, 'no service was written');
  });

  // A change of the spec is applied in place: same ID, the new variable present, the secret kept.
  const changed = parse(text) as { services: { name: string; environment: Record<string, string> }[] };
  changed.services.find((s) => s.name === `${stack}_db`)!.environment.ADDED = 'yes';
  const changedFile = join(dir, 'changed.yaml');
  await writeFile(changedFile, JSON.stringify(changed));
  const applied = await coreflow('apply', '--spec', changedFile);
  t.equal(applied.code, 0, applied.stdout + applied.stderr);
  t.match(applied.stdout, '1 updated');
  const dbAfter = await docker.getService(`${stack}_db`).inspect();
  t.equal(dbAfter.ID, ids[`${stack}_db`], 'updated in place: same service ID');
  t.ok((dbAfter.Spec.TaskTemplate.ContainerSpec.Env as string[]).includes('ADDED=yes'));
  t.equal(dbAfter.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretName, `${stack}_pw`, 'the stack secret is still mounted');
  t.equal(dbAfter.Spec.TaskTemplate.ContainerSpec.Mounts[0].Source, `${stack}_data`, 'the stack volume is still mounted');
  const secrets = await docker.listSecrets({ filters: { name: [`${stack}_pw`] } });
  t.equal(secrets.length, 1, 'the stack secret was not recreated');
  const after = await coreflow('plan', '--spec', changedFile);
  t.equal(after.code, 0, `the plan after the change is empty: ${after.stdout}`);
});
