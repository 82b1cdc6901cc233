import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../../ts/agent.ts';
import { formatEvent } from '../../ts/cli/format-event.ts';
import { loadConfig } from '../../ts/config/config.ts';
import { ControlPlane } from '../../ts/controlplane/control-plane.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import type { AgentStatus } from '../../ts/observe/status.ts';
import { cleanupCluster, connect, settled, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * Approve before apply and suspend through the reference control plane: an agent in approve
 * mode dials it, a pushed change waits as a plan the control plane lists and approves.
 */
const { docker } = await connect();
const TOKEN = 'cp-token-0123456789abcdef';
const doc = testDoc('cfcpo');
const cluster = doc.cluster.name;
const web = uniqueName('cfcpo-web');
const svc = (mode: string) => ({ name: web, image: TEST_IMAGE, command: WEB_COMMAND, environment: { MODE: mode }, resources: { memoryLimitMB: 32 } });
doc.services = [svc('v1')];
const dir = await mkdtemp(join(tmpdir(), 'cf-cpo-'));
const specPath = join(dir, 'spec.yaml');
await writeFile(specPath, stringify(doc));
const cp = new ControlPlane({ specPath, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger(), pingIntervalMs: 0 });
await cp.start();
const config = await loadConfig({
  cloudlyUrl: `ws://127.0.0.1:${cp.port}`,
  jumpcode: TOKEN,
  applyMode: 'approve',
  stateDir: join(dir, 'state'),
  port: '0',
  host: '127.0.0.1',
  resyncCron: '0 0 0 1 1 *',
});
const agent = new Agent(config, silentLogger());
t.teardown(async () => {
  await agent.stop();
  await cp.stop();
  await cleanupCluster(docker, cluster);
  await rm(dir, { recursive: true, force: true });
});
await agent.start();
const cpBase = `http://127.0.0.1:${cp.port}`;

async function cpCall(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(cpBase + path, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json() };
}

async function envOf(): Promise<string[] | undefined> {
  const s = ((await docker.listServices({ filters: { name: [web] } })) as any[]).find((x) => x.Spec.Name === web);
  return s?.Spec.TaskTemplate.ContainerSpec.Env;
}

async function waitingPlan(change: string): Promise<{ id: string; changes: { type: string; name: string }[] }> {
  return waitFor(`a plan with ${change}`, async () => {
    const { json } = await cpCall('GET', '/v1/plans');
    const p = json.plans[0]?.plan;
    return p?.changes.some((c: { type: string; kind: string }) => `${c.type} ${c.kind}` === change) ? p : undefined;
  });
}

t.test('the first run and a pushed change wait for an approval from the control plane', async (t) => {
  const p1 = await waitingPlan('create service');
  t.equal(await envOf(), undefined, 'nothing created before the approval');
  const status = (await (await fetch(`http://127.0.0.1:${agent.server.port}/v1/status`)).json()) as AgentStatus;
  t.equal(status.overall.operation, 'Waiting');
  t.equal(status.plan?.id, p1.id);
  t.ok(agent.bus.recent().some((e) => e.type === 'plan.waiting' && e.name === p1.id), 'a plan.waiting event names it');
  t.match(formatEvent('plan', { reason: `plan ${p1.id} waits for approval`, agentId: 'a1', plan: p1 }), `approve: POST /v1/plans/${p1.id}/approve`, 'controller watch shows the plan');

  const approved = await cpCall('POST', `/v1/plans/${p1.id}/approve`);
  t.equal(approved.status, 200, JSON.stringify(approved.json));
  t.equal(approved.json.status, 'succeeded');
  t.same(await envOf(), ['MODE=v1']);
  await settled(docker, cluster);

  const patched = await cpCall('PATCH', '/v1/services/update', { service: svc('v2') });
  t.equal(patched.status, 200);
  const p2 = await waitingPlan('update service');
  t.same(await envOf(), ['MODE=v1'], 'the pushed change is not applied before the approval');

  const unknown = await cpCall('POST', '/v1/plans/plan-nope/approve');
  t.equal(unknown.status, 404);
  t.equal(unknown.json.code, 'COREFLOW_ERR_PLAN_UNKNOWN');

  // Another push makes a new plan: the older one is refused as stale.
  await cpCall('PATCH', '/v1/services/update', { service: svc('v3') });
  const p3 = await waitFor('a newer plan', async () => {
    const p = (await cpCall('GET', '/v1/plans')).json.plans[0]?.plan;
    return p && p.id !== p2.id ? p : undefined;
  });
  const stale = await cpCall('POST', `/v1/plans/${p2.id}/approve`);
  t.equal(stale.status, 409);
  t.equal(stale.json.code, 'COREFLOW_ERR_PLAN_STALE');
  t.same(await envOf(), ['MODE=v1'], 'nothing applied from the stale plan');

  t.ok(agent.bus.recent().some((e) => e.type === 'plan.stale' && e.name === p2.id), 'a plan.stale event');
  const ok = await cpCall('POST', `/v1/plans/${p3.id}/approve`);
  t.equal(ok.status, 200, JSON.stringify(ok.json));
  t.same(await envOf(), ['MODE=v3']);
  await waitFor('no plan listed', async () => (await cpCall('GET', '/v1/plans')).json.plans.length === 0);
  await settled(docker, cluster);
});

t.test('suspend and resume from the control plane', async (t) => {
  const suspended = await cpCall('POST', `/v1/services/${web}/suspend`);
  t.equal(suspended.status, 200);
  t.same(suspended.json.agents.map((a: { changed: boolean }) => a.changed), [true]);
  t.ok(agent.suspensions.current.has(`service/${web}`));
  const unknown = await cpCall('POST', '/v1/services/no-such/suspend');
  t.equal(unknown.status, 404);
  t.equal(unknown.json.code, 'COREFLOW_ERR_TARGET_UNKNOWN');
  const resumed = await cpCall('POST', `/v1/services/${web}/resume`);
  t.equal(resumed.status, 200);
  t.notOk(agent.suspensions.current.has(`service/${web}`));
});
