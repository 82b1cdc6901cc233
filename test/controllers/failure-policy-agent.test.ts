import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { AgentStatus } from '../../ts/observe/status.ts';
import { boundPort, startCoreflow } from '../helpers/controlplane-procs.ts';
import { runProcess } from '../helpers/run-process.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * The failure policy in a running agent: a crash-looping update pauses, is rolled back after
 * COREFLOW_PAUSED_ROLLBACK_AFTER_MS, and is then held (reported in /v1/status and the events,
 * not started again); `coreflow retry` against the agent releases it, and rejects an unknown
 * object with nothing changed.
 */

const { docker } = await connect();
const doc = testDoc('cffp');
const name = uniqueName('cffp-svc');
const dir = await mkdtemp(join(tmpdir(), 'coreflow-fp-'));
const file = join(dir, 'spec.json');
const service = (command: string[]) => ({
  name,
  image: TEST_IMAGE,
  command,
  resources: { memoryLimitMB: 32 },
  update: { failureAction: 'pause', monitorSeconds: 2 },
  restartPolicy: { delay: '1s' },
  onPausedUpdate: 'rollback',
});
doc.services = [service(['sleep', '100000'])];
await writeFile(file, JSON.stringify(doc));

const operatorToken = 'retry-operator-token-0123456789';
const agent = startCoreflow(['agent', '--spec', file, '--port', '0', '--host', '127.0.0.1', '--state-dir', join(dir, 'state')], {
  COREFLOW_PAUSED_ROLLBACK_AFTER_MS: '1000',
  COREFLOW_TASK_HEALTH_INTERVAL_MS: '500',
  COREFLOW_API_TOKEN: operatorToken,
});
t.teardown(async () => {
  await agent.stop();
  await cleanupCluster(docker, doc.cluster.name);
  await rm(dir, { recursive: true, force: true });
});
const port = await boundPort(agent, 'internal server listening');
const status = async () => (await (await fetch(`http://127.0.0.1:${port}/v1/status`)).json()) as AgentStatus;
const retry = (object: string, token: string | undefined = operatorToken) =>
  runProcess('node', ['bin/coreflow.js', 'retry', object, '--agent', `127.0.0.1:${port}`, '--log-level', 'error'], { env: { ...process.env, COREFLOW_API_TOKEN: token } });

t.test('a crash-looping update is rolled back after the configured time and held; coreflow retry releases it', async (t) => {
  await waitFor('service running', async () => (await docker.listTasks({ filters: { service: [name], 'desired-state': ['running'] } })).some((x) => x.Status?.State === 'running'), 60_000);
  const id = (await docker.getService(name).inspect()).ID;

  doc.services = [service(['sh', '-c', 'exit 1'])];
  await writeFile(file, JSON.stringify(doc));
  await agent.waitForLog('the pause reported', (l) => typeof l.msg === 'string' && l.msg.includes(`rolling update of service ${name} paused`), 90_000);
  const back = await waitFor('rolled back', async () => {
    const s = await docker.getService(name).inspect();
    return s.UpdateStatus?.State === 'rollback_completed' && s;
  }, 60_000, 500);
  t.equal(back.ID, id, 'same service ID');
  t.same(back.Spec.TaskTemplate.ContainerSpec.Command, ['sleep', '100000'], 'the previous command runs again');

  const held = await waitFor('held in /v1/status', async () => {
    const o = (await status()).objects.find((x) => x.kind === 'service' && x.name === name);
    return o?.message?.includes('was rolled back after its update paused') && o;
  }, 30_000, 300);
  t.equal(held.sync, 'OutOfSync', 'reported out of sync, not healed');
  const version = (await docker.getService(name).inspect()).Version.Index;

  const anonymous = await retry(name, '');
  t.equal(anonymous.code, 1, 'refused without the operator token');
  t.match(anonymous.stderr, 'COREFLOW_API_TOKEN');
  t.equal((await docker.getService(name).inspect()).Version.Index, version, 'a refused retry changes nothing');

  const unknown = await retry('service/nope');
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, 'service/nope is not an object of the last run');
  t.match(unknown.stderr, 'COREFLOW_ERR_UNKNOWN_OBJECT');
  t.equal((await docker.getService(name).inspect()).Version.Index, version, 'an unknown object changes nothing');

  const released = await retry(name);
  t.equal(released.code, 0, released.stderr);
  t.match(released.stdout, `service/${name}: released`);
  const again = await docker.getService(name).inspect();
  t.same(again.Spec.TaskTemplate.ContainerSpec.Command, ['sh', '-c', 'exit 1'], 'released: the desired update is applied again');
  t.equal(again.ID, id, 'in place');
});
