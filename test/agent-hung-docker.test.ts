import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../ts/agent.ts';
import { loadConfig } from '../ts/config/config.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import { HungDockerSocket } from './helpers/hung-docker.ts';
import { cleanupCluster, connect, testDoc } from './helpers/swarm.ts';

/**
 * A Docker socket that accepts connections and never answers: a run fails with a clear error
 * within the Docker timeout and the next run (engine back) succeeds; an agent stops promptly
 * while its Docker calls hang, long before their timeout.
 */
const { docker } = await connect();
/** The stop deadline of `coreflow agent` (SIGTERM); the agent must stop well within it. */
const STOP_DEADLINE_MS = 10_000;

async function agentOn(socket: HungDockerSocket, dockerTimeoutMs: number, t: { teardown(fn: () => Promise<void>): void }): Promise<Agent> {
  const doc = testDoc('cfhung');
  const dir = await mkdtemp(join(tmpdir(), 'cf-hung-'));
  await writeFile(join(dir, 'spec.yaml'), stringify(doc));
  const config = await loadConfig({
    spec: join(dir, 'spec.yaml'),
    stateDir: join(dir, 'state'),
    port: '0',
    host: '127.0.0.1',
    dockerHost: `unix://${socket.path}`,
    dockerTimeoutMs: String(dockerTimeoutMs),
    resyncCron: '0 0 0 1 1 *',
    taskHealthIntervalMs: '200',
    retryBaseMs: '3600000',
  });
  const agent = new Agent(config, silentLogger());
  t.teardown(async () => {
    await agent.stop();
    await cleanupCluster(docker, doc.cluster.name);
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  return agent;
}

t.test('a run against a hung Docker socket fails within the timeout with a clear error; the next run retries', async (t) => {
  const socket = await HungDockerSocket.start();
  t.teardown(() => socket.close());
  const agent = await agentOn(socket, 1000, t);
  t.equal(agent.lastResult?.status, 'succeeded', 'the first run, engine answering, applied the networks');

  socket.hang();
  const started = Date.now();
  const failed = (await agent.reconcile('test: engine hung'))!;
  const took = Date.now() - started;
  t.equal(failed.status, 'failed');
  const networks = failed.steps.find((s) => s.kind === 'networks');
  t.equal(networks?.status, 'failed');
  t.match(networks?.error, /cannot reach the Docker Engine at unix:\/\/.*: no answer to GET \/networks within 1000 ms/, 'the error names the engine, the call and the timeout');
  t.ok(took < 1000 * failed.steps.length, `the run ended after ${took} ms: each step waited at most the timeout`);
  t.ok(agent.status().objects.some((o) => o.kind === 'step' && o.name === 'networks' && o.sync === 'Unknown'), 'the status shows the step that could not read');

  socket.recover();
  const again = (await agent.reconcile('test: engine back'))!;
  t.equal(again.status, 'succeeded', 'the next run, engine back, succeeds');
});

t.test('the agent stops promptly while its Docker calls hang, long before their timeout', async (t) => {
  const socket = await HungDockerSocket.start();
  t.teardown(() => socket.close());
  const agent = await agentOn(socket, 600_000, t);
  socket.hang();
  const run = agent.reconcile('test: in flight while stopping');
  // The run and the task-health controller are now waiting on the hung engine.
  while (socket.open === 0) await new Promise((r) => setImmediate(r));
  const started = Date.now();
  await agent.stop();
  const took = Date.now() - started;
  t.ok(took < STOP_DEADLINE_MS, `stopped in ${took} ms`);
  const result = await run;
  const networks = result?.steps.find((s) => s.kind === 'networks');
  t.equal(networks?.status, 'failed', 'the run in flight ended');
  t.match(networks?.error, /aborted/, 'its call was aborted, not timed out');
});
