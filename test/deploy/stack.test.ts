import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { boundPort, followEvents, httpJson, startCoreflow } from '../helpers/controlplane-procs.ts';
import { deployAgentStack, gatewayAddress, type AgentStack } from '../helpers/agent-stack.ts';
import { agentTestImage } from '../helpers/image.ts';
import { parsePrometheusText } from '../helpers/prom-text.ts';
import { createCaddyService, freePort, HOSTNAME_WEB_COMMAND } from '../helpers/routing.ts';
import { runProcess } from '../helpers/run-process.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * The agent as it is meant to run: its own image, deployed with `docker stack deploy` from
 * examples/coreflow-stack.yml, driven by the reference control plane (a host process the agent
 * reaches through the docker_gwbridge gateway), feeding Caddy (a Swarm service with host-mode
 * ports). A workload PATCHed on the control plane answers through Caddy; the agent's container
 * killed, Swarm restarts it and it resumes with no write and no duplicate.
 */

t.setTimeout(15 * 60_000);
const { docker } = await connect();
const image = await agentTestImage();
const gateway = await gatewayAddress();

const doc = testDoc('cfstk');
const cluster = doc.cluster.name;
const stack = cluster.replace(/-/g, '');
const app = `${cluster}-app`;
const HOST = 'app.example.test';
const ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
doc.routing = { resyncSeconds: 2, certificateProvider: false, caddy: { enabled: true, adminUrl: `http://${gateway}:${ports.admin}` } };

const dir = await mkdtemp(join(tmpdir(), 'cf-stack-'));
await chmod(dir, 0o755);
const token = randomBytes(24).toString('hex');
await writeFile(join(dir, 'cp.token'), `${token}\n`);
await writeFile(join(dir, 'spec.yaml'), stringify(doc));
const caddy = `${cluster}-caddy`;

// The control plane on the host, on the gateway address the agent's container reaches.
const cp = startCoreflow(['controlplane', '--spec', join(dir, 'spec.yaml'), '--addr', `${gateway}:0`, '--token-file', join(dir, 'cp.token')]);
const cpPort = await boundPort(cp, 'control plane listening');
const cpUrl = `http://${gateway}:${cpPort}`;
const events = followEvents(`${cpUrl}/v1/events`, token);
await events.opened;

let deployed: AgentStack | undefined;
t.teardown(async () => {
  events.close();
  await deployed?.remove();
  await docker.getService(caddy).remove().catch(() => undefined);
  await cleanupCluster(docker, cluster);
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The agent's task container on this node, when one runs. */
async function agentContainer(): Promise<string | undefined> {
  const list = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${stack}_agent`], status: ['running'] } });
  return list[0]?.Id;
}

/** GET on the agent's internal server, from inside its container (the port is not published). */
async function fromAgent(container: string, path: string): Promise<string> {
  const out = await runProcess('docker', ['exec', container, 'node', '-e', `fetch('http://127.0.0.1:3000${path}').then(r=>r.text()).then(t=>process.stdout.write(t))`]);
  if (out.code !== 0) throw new Error(out.stderr);
  return out.stdout;
}

/** Docker writes of the agent in that container, from its metrics (the lease, a Swarm config, aside). */
async function agentWrites(container: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of parsePrometheusText(await fromAgent(container, '/metrics')).samples) {
    const op = s.labels.operation ?? '';
    if (s.name !== 'coreflow_docker_requests_total' || op.startsWith('GET ') || op.includes('/configs')) continue;
    out[op] = (out[op] ?? 0) + s.value;
  }
  return out;
}

/** Every object of the cluster with its ID and version. */
async function objects(): Promise<Record<string, string>> {
  const filters = { label: [`coreflow.cluster=${cluster}`] };
  const out: Record<string, string> = {};
  for (const s of await docker.listServices({ filters })) out[`service/${s.Spec!.Name}`] = `${s.ID}@${s.Version!.Index}`;
  for (const n of await docker.listNetworks({ filters })) out[`network/${n.Name}`] = n.Id;
  for (const c of await docker.listSecrets({ filters })) out[`secret/${c.Spec!.Name}`] = c.ID;
  return out;
}

const reports = () => events.events.filter((e) => e.type === 'report' && (e.data.run as { runId?: string } | undefined)?.runId);

t.test('docker stack deploy of the agent: it connects, takes the lease and reconciles', async (t) => {
  deployed = await deployAgentStack({ stack, image, cloudlyUrl: `ws://${gateway}:${cpPort}`, jumpcode: token, leaseSeconds: 3, logLevel: 'debug' });
  await waitFor('the agent\'s first run report', async () => reports().length > 0, 120_000);
  t.comment(`first reconcile ${Date.now() - deployed.deployStartedAt} ms after docker stack deploy`);
  const svc = await docker.getService(`${stack}_agent`).inspect();
  const spec = svc.Spec.TaskTemplate.ContainerSpec;
  t.notOk(JSON.stringify(svc).includes(token), 'the machine token is nowhere in docker service inspect');
  t.ok((spec.Env as string[]).includes('JUMPCODE_FILE=/run/secrets/jumpcode'));
  t.match(svc.Spec.TaskTemplate.Placement.Constraints, ['node.role == manager']);
  t.equal(svc.Spec.UpdateConfig.Order, 'stop-first');
  t.equal(svc.Spec.Mode.Replicated.Replicas, 1);
  const c = await agentContainer();
  t.ok(c);
  const status = JSON.parse(await fromAgent(c!, '/v1/status')) as { lease: { state: string; name: string } };
  t.match(status.lease, { state: 'holding', name: `${cluster}-lease` });
});

t.test('a workload PATCHed on the control plane runs and answers through Caddy', async (t) => {
  await createCaddyService(docker, caddy, `${cluster}-gw`, ports);
  await waitFor('Caddy\'s admin API', async () => (await fetch(`http://127.0.0.1:${ports.admin}/config/`).catch(() => undefined))?.ok, 60_000);

  const patchedAt = Date.now();
  const res = await httpJson('PATCH', `${cpUrl}/v1/services/update`, token, {
    service: { name: app, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, ports: { web: 8080 }, domains: [{ name: HOST, protocol: 'http' }], update: { monitorSeconds: 0 } },
  });
  t.equal(res.status, 200, JSON.stringify(res.body));
  const running = await waitFor('the workload\'s task running', async () => {
    const tasks = await docker.listTasks({ filters: { service: [app], 'desired-state': ['running'] } });
    return tasks.find((x) => x.Status?.State === 'running');
  }, 60_000);
  t.comment(`workload running ${Date.now() - patchedAt} ms after the PATCH`);
  const hostname = String(running.Status?.ContainerStatus?.ContainerID ?? '').slice(0, 12);
  const page = await waitFor('the page through Caddy', async () => {
    const out = await runProcess('curl', ['-s', '-m', '3', '-H', `Host: ${HOST}`, `http://127.0.0.1:${ports.http}/`]);
    return out.code === 0 && out.stdout.trim() === hostname ? out.stdout.trim() : undefined;
  }, 60_000);
  t.equal(page, hostname, 'curl through Caddy answers with the workload task\'s page');
  t.comment(`page through Caddy ${Date.now() - patchedAt} ms after the PATCH`);
});

t.test('the agent\'s container killed: Swarm restarts it, it resumes with no write and nothing duplicated or missing', async (t) => {
  const before = await objects();
  t.ok(Object.keys(before).some((k) => k === `service/${app}`));
  const old = (await agentContainer())!;
  const seen = reports().length;
  t.equal((await runProcess('docker', ['kill', old])).code, 0);
  const fresh = await waitFor('a new agent container', async () => {
    const c = await agentContainer();
    return c && c !== old ? c : undefined;
  }, 120_000);
  const report = await waitFor('the restarted agent\'s first run', async () => reports().slice(seen).find((e) => (e.data.run as { trigger?: string }).trigger === 'start'), 120_000);
  t.match((report.data.run as { summary: unknown }).summary, { creates: 0, updates: 0, deletes: 0, failed: 0 });
  t.same(await agentWrites(fresh), {}, 'zero Docker writes');
  t.same(await objects(), before, 'the same objects, IDs and versions');
  const page = await runProcess('curl', ['-s', '-m', '3', '-H', `Host: ${HOST}`, `http://127.0.0.1:${ports.http}/`]);
  t.equal(page.code, 0, 'the workload still answers through Caddy');
});
