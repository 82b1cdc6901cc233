import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runProcess, type ProcessOutput } from './helpers/run-process.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor, WEB_COMMAND } from './helpers/swarm.ts';

const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-cli-'));
const root = new URL('..', import.meta.url).pathname;

/** `node bin/coreflow.js ARGS` with extra environment variables. */
function coreflow(args: string[], env: Record<string, string> = {}): Promise<ProcessOutput> {
  return runProcess('node', ['bin/coreflow.js', ...args], { env: { ...process.env, ...env } });
}

const doc = testDoc('cli');
const id = doc.cluster.name;
doc.services = [
  { name: `${id}-a`, image: TEST_IMAGE, command: WEB_COMMAND, scaleFactor: 0, environment: { A: '1' } },
  { name: `${id}-b`, image: TEST_IMAGE, command: WEB_COMMAND, scaleFactor: 0 },
];
const file = join(dir, 'spec.yaml');
await writeFile(file, JSON.stringify(doc));
t.teardown(() => cleanupCluster(docker, id));

t.test('plan: exit 2 with a readable diff when something would change, and changes nothing', async (t) => {
  const out = await coreflow(['plan', '--spec', file]);
  t.equal(out.code, 2, out.stderr);
  t.match(out.stdout, `+ ${id}-gw`);
  t.match(out.stdout, `+ ${id}-a`);
  t.match(out.stdout, 'Plan: 4 to create, 0 to update, 0 to delete');
  const svcs = await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } });
  t.equal(svcs.length, 0, 'plan created nothing');
});

t.test('apply prints its result and no log lines, then plan exits 0; --json gives the typed result', async (t) => {
  const applied = await coreflow(['apply', '--spec', file]);
  t.equal(applied.code, 0, applied.stderr);
  t.match(applied.stdout, 'Applied: 4 created');
  t.equal(applied.stderr, '', 'no log lines by default: the result is the output');
  const plan = await coreflow(['plan', '--spec', file, '--json', '--log-level', 'info']);
  t.equal(plan.code, 0, plan.stderr);
  t.match(plan.stderr, '"msg":"run finished"', '--log-level info adds the log');
  const result = JSON.parse(plan.stdout);
  t.equal(result.dryRun, true);
  t.equal(result.status, 'succeeded');
  t.same(result.summary, { creates: 0, updates: 0, deletes: 0, unchanged: 4, failed: 0, blocked: 0 });
  t.ok(result.steps.every((s: { actions: { durationMs: number }[] }) => s.actions.every((a) => typeof a.durationMs === 'number')));
});

t.test('the log level of .nogit/env.json applies, as the readme\'s example sets it', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'cf-cli-overlay-'));
  await mkdir(join(cwd, '.nogit'));
  await writeFile(join(cwd, '.nogit', 'env.json'), JSON.stringify({ COREFLOW_LOG_LEVEL: 'info' }));
  const { COREFLOW_LOG_LEVEL: _unset, ...env } = process.env;
  const out = await runProcess('node', [join(root, 'bin/coreflow.js'), 'plan', '--spec', file], { cwd, env });
  t.equal(out.code, 0, out.stderr);
  t.match(out.stderr, '"msg":"run finished"', 'info lines, where a plan logs none by default');
});

t.test('errors: exit 1 with the error code; bad flags, missing spec, unreachable Docker', async (t) => {
  const noSpec = await coreflow(['plan']);
  t.equal(noSpec.code, 1);
  t.match(noSpec.stderr, 'missing --spec FILE');
  const badFlag = await coreflow(['plan', '--spec', file, '--frobnicate']);
  t.equal(badFlag.code, 1);
  t.match(badFlag.stderr, "Unknown option '--frobnicate'");
  const missing = await coreflow(['plan', '--spec', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, 'COREFLOW_ERR_SPEC_READ');
  const unreachable = await coreflow(['plan', '--spec', file], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, 'cannot reach the Docker Engine at unix:///nonexistent/docker.sock');
  t.match(unreachable.stderr, 'COREFLOW_ERR_DOCKER_UNREACHABLE');
  const worker = await coreflow(['plan', '--spec', file, '--docker-host', 'unix:///var/run/coreflow-noswarm.sock']);
  t.equal(worker.code, 1);
  t.match(worker.stderr, 'is not a swarm manager (swarm state: inactive)');
  t.match(worker.stderr, '`docker swarm init`');
  t.match(worker.stderr, 'COREFLOW_ERR_NOT_SWARM_MANAGER');
  const badLevel = await coreflow(['plan', '--spec', file], { COREFLOW_LOG_LEVEL: 'loud' });
  t.equal(badLevel.code, 1);
  t.match(badLevel.stderr, 'COREFLOW_LOG_LEVEL (--log-level): Invalid option');
  const badEnv = await coreflow(['plan', '--spec', file], { COREFLOW_RUN_TIMEOUT_MS: 'soon' });
  t.equal(badEnv.code, 1);
  t.match(badEnv.stderr, 'COREFLOW_RUN_TIMEOUT_MS (--run-timeout-ms): expected milliseconds');
  const help = await coreflow(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, 'usage: coreflow <command>');
});

t.test('agent: follows the spec file, keeps the last good spec on an invalid edit, stops on SIGTERM', async (t) => {
  const agentFile = join(dir, 'agent.yaml');
  await writeFile(agentFile, JSON.stringify(doc));
  const child = spawn('node', ['bin/coreflow.js', 'agent', '--spec', agentFile, '--port', '0', '--state-dir', join(dir, 'state')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  await waitFor('first run', async () => logs.includes('"msg":"run finished"'), 30_000);

  const envOf = async () => {
    const s = await docker.getService(`${id}-a`).inspect();
    return s.Spec.TaskTemplate.ContainerSpec.Env as string[];
  };
  const idBefore = (await docker.getService(`${id}-a`).inspect()).ID;
  const edited = structuredClone(doc) as any;
  edited.services[0].environment = { A: '2' };
  await writeFile(agentFile, JSON.stringify(edited));
  await waitFor('the edit applied', async () => (await envOf()).includes('A=2'), 30_000);
  t.equal((await docker.getService(`${id}-a`).inspect()).ID, idBefore, 'updated in place');

  await writeFile(agentFile, 'apiVersion: coreflow/v1\ncluster: {name: x}\nservices: [{name: 1}]\n');
  await waitFor('the rejection logged', async () => logs.includes('spec rejected'), 30_000);
  t.match(logs, 'services[0].name: expected a name');
  t.same(await envOf(), ['A=2'], 'the running service is untouched');
  t.equal((await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } })).length, 2);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'clean exit on SIGTERM');
  t.match(logs, '"msg":"stopped"');
});
