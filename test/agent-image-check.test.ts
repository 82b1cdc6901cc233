import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../ts/agent.ts';
import { loadConfig } from '../ts/config/config.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import { parsePrometheusText, sampleValue } from './helpers/prom-text.ts';
import { pushVariant, REGISTRY, registryCredentials } from './helpers/registry.ts';
import { cleanupCluster, connect, testDoc, uniqueName, waitFor } from './helpers/swarm.ts';

/** The agent checks tags on its own every COREFLOW_IMAGE_CHECK_INTERVAL: a re-pushed tag is rolled out without any other trigger. */
t.test('the image-check timer rolls out a re-pushed tag', async (t) => {
  const { docker } = await connect();
  const creds = await registryCredentials();
  const doc = testDoc('cfcheck');
  const name = `${doc.cluster.name}-app`;
  const repo = uniqueName('cfcheck');
  const ref = `${REGISTRY}/${repo}:stable`;
  const digestA = await pushVariant(ref, `A ${repo}`);
  Object.assign(doc, {
    images: { resolve: 'always' },
    registries: [{ id: 'private', url: REGISTRY, username: creds.username, password: creds.password }],
    services: [{ name, image: `${repo}:stable`, registry: 'private', scaleFactor: 0, command: ['sleep', '3600'] }],
  });
  const dir = await mkdtemp(join(tmpdir(), 'cf-image-check-'));
  await writeFile(join(dir, 'spec.yaml'), stringify(doc));
  const config = await loadConfig({ spec: join(dir, 'spec.yaml'), stateDir: join(dir, 'state'), port: '0', host: '127.0.0.1', resyncCron: '0 0 0 1 1 *', imageCheckInterval: '1s' });
  t.equal(config.imageCheckInterval, 1000, 'a duration, in ms');
  const agent = new Agent(config, silentLogger());
  t.teardown(async () => {
    await agent.stop();
    await cleanupCluster(docker, doc.cluster.name);
    await rm(dir, { recursive: true, force: true });
  });
  await agent.start();
  const image = async () => (await docker.getService(name).inspect()).Spec.TaskTemplate.ContainerSpec.Image as string;
  t.equal(await image(), `${ref}@${digestA}`);
  const id = (await docker.getService(name).inspect()).ID as string;
  const digestB = await pushVariant(ref, `B ${repo}`);
  await waitFor('the timer rolled out B', async () => (await image()) === `${ref}@${digestB}`, 30_000);
  t.equal((await docker.getService(name).inspect()).ID, id, 'in place');
  const metrics = parsePrometheusText(await (await fetch(`http://127.0.0.1:${agent.server.port}/metrics`)).text());
  t.ok((sampleValue(metrics.samples, 'coreflow_registry_requests_total', { registry: REGISTRY, code: '200' }) ?? 0) >= 2, 'registry requests counted by registry and code');
  t.notOk(JSON.stringify(metrics).includes(creds.password), 'no password in the metrics');
  const off = await fetch(`http://127.0.0.1:${agent.server.port}/v1/redeploy`, { method: 'POST', headers: { authorization: 'Bearer anything-at-all-12345' }, body: JSON.stringify({ service: name }) });
  t.equal(off.status, 401, 'without COREFLOW_API_TOKEN the operator endpoint refuses everyone');
  t.match(((await off.json()) as { error: string }).error, 'operator endpoints are off');
});

t.test('bad settings name the setting', async (t) => {
  await t.rejects(loadConfig({ imageCheckInterval: 'soon' }), /COREFLOW_IMAGE_CHECK_INTERVAL \(--image-check-interval\): expected a duration/);
});
