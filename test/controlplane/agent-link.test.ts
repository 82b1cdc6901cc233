import t from 'tap';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { boundPort, followEvents, httpJson, startCoreflow, type CoreflowProc } from '../helpers/controlplane-procs.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * The control-plane link end to end: `coreflow controlplane` and `coreflow agent` as real child
 * processes on loopback, converging the real swarm. The steps build on each other.
 */

const { docker } = await connect();
const doc = testDoc('cf4link');
const cluster = doc.cluster.name;
const web = `${cluster}-web`;
const dir = await mkdtemp(join(tmpdir(), 'coreflow-cp-'));
const specPath = join(dir, 'spec.yaml');
const tokenPath = join(dir, 'token');
const token = `tok-${cluster}-0123456789abcdef`;
// A bundle no service uses: it must never be shown by the API, the events or any log.
const secretValue = `hunter2-${cluster}-value`;
(doc as Record<string, unknown>).secretBundles = [{ id: `${cluster}-bundle`, values: { DB_PASSWORD: secretValue } }];
await writeFile(specPath, stringifyYaml(doc));
await writeFile(tokenPath, `${token}\n`);

const procs: CoreflowProc[] = [];
t.teardown(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await cleanupCluster(docker, cluster);
});

function startControlPlane(addr: string): CoreflowProc {
  const p = startCoreflow(['controlplane', '--spec', specPath, '--addr', addr, '--token-file', tokenPath], { COREFLOW_PING_INTERVAL_MS: '2000' });
  procs.push(p);
  return p;
}

function startAgent(cpPort: number, stateDir: string, jumpcode = token): CoreflowProc {
  const p = startCoreflow(['agent', '--host', '127.0.0.1', '--port', '0', '--state-dir', stateDir], {
    CLOUDLY_URL: `ws://127.0.0.1:${cpPort}`,
    JUMPCODE: jumpcode,
    COREFLOW_RECONNECT_MAX_MS: '2000',
    COREFLOW_PING_INTERVAL_MS: '2000',
    COREFLOW_AUTH_RETRY_MS: '5000',
  });
  procs.push(p);
  return p;
}

async function serviceOf(name: string) {
  const [svc] = await docker.listServices({ filters: { name: [name] } });
  return svc?.Spec?.Name === name ? svc : undefined;
}

function envOf(svc: Awaited<ReturnType<typeof serviceOf>>): string[] {
  return svc?.Spec?.TaskTemplate && 'ContainerSpec' in svc.Spec.TaskTemplate ? (svc.Spec.TaskTemplate.ContainerSpec?.Env ?? []) : [];
}

const stateDir = join(dir, 'state');
let cp = startControlPlane('127.0.0.1:0');
const cpPort = await boundPort(cp, 'control plane listening');
const base = `http://127.0.0.1:${cpPort}`;
let agent = startAgent(cpPort, stateDir);
await agent.waitForLog('the first run', (l) => l.msg === 'run finished');
let webId = '';

t.test('PATCH a service: it runs in the swarm, the report shows on /v1/events, the spec file holds it', async (t) => {
  const follower = followEvents(`${base}/v1/events`, token);
  await follower.opened;
  t.teardown(follower.close);
  const watch = startCoreflow(['controller', 'watch', '--controller', `127.0.0.1:${cpPort}`, '--token-file', tokenPath]);
  procs.push(watch);
  await waitFor('watch connected', async () => watch.stdout.some((l) => l.includes('state  connected')), 60_000);

  const service = { name: web, image: TEST_IMAGE, command: WEB_COMMAND, environment: { GREETING: 'one' } };
  const res = await httpJson('PATCH', `${base}/v1/services/update`, token, { service });
  t.equal(res.status, 200);
  t.match(res.body, { changed: true, agents: 1 });

  const svc = await waitFor('the service in the swarm', () => serviceOf(web), 30_000);
  webId = svc.ID!;
  t.ok(envOf(svc).includes('GREETING=one'), 'the service runs with the patched environment');
  const report = await waitFor('a report on /v1/events', async () =>
    follower.events.find((e) => e.type === 'report' && (e.data.services as { name: string; action: string }[]).some((s) => s.name === web && s.action === 'create')),
  );
  t.match(report.data, { reason: 'run succeeded', clusterName: cluster, run: { status: 'succeeded' } });
  t.match((report.data.services as { name: string }[]).find((s) => s.name === web), { health: 'ok' }, 'per-service health');
  // Task counts come from task health's last look, which follows the run: a later report has them.
  const counted = await waitFor('a report with the task counts', async () =>
    follower.events.find((e) => e.type === 'report' && (e.data.services as { name: string; tasks?: unknown }[]).some((s) => s.name === web && s.tasks)),
  );
  t.match((counted.data.services as { name: string }[]).find((s) => s.name === web), { tasks: { desired: 1 } }, 'task counts per service');
  t.match(report.data, { cause: 'run', status: { overall: { sync: 'Synced' } } }, 'the three-axis status of /v1/status');
  t.match((report.data.status as { objects: { name: string }[] }).objects.find((o) => o.name === web), { kind: 'service', sync: 'Synced', operation: /Idle|Syncing/ });
  t.ok(follower.events.some((e) => e.type === 'state' && e.data.reason === `service ${web} updated`), 'the change itself is an event');
  t.ok(follower.events.some((e) => e.type === 'push' && e.data.accepted === true), 'the agent accepted the push');
  const onDisk = parseYaml(await readFile(specPath, 'utf8')) as { services: { name: string; environment: Record<string, string> }[] };
  t.same(onDisk.services.map((s) => [s.name, s.environment.GREETING]), [[web, 'one']], 'the spec file holds the change');
  const listed = await httpJson('GET', `${base}/v1/services`, token);
  t.match(listed.body, { specHash: res.body.specHash, desired: { services: [{ name: web }] } });

  await waitFor('the watcher printed the report', async () => watch.stdout.some((l) => l.includes('report run succeeded')), 30_000);
  t.ok(watch.stdout.some((l) => l.includes(web) && l.includes('create: not present')), 'the watcher shows what the run did to the service');
  await watch.stop();
  t.notOk(JSON.stringify(follower.events).includes(secretValue), 'events never carry secret values');
  t.notOk(JSON.stringify(listed.body).includes(secretValue), 'the API never shows secret values');
  t.match(listed.body, { desired: { secretBundles: [{ values: { DB_PASSWORD: '[redacted]' } }] } });
  t.notOk([...cp.logs, ...agent.logs, ...watch.stdout].some((l) => JSON.stringify(l).includes(secretValue)), 'no log line holds a secret value');
  const saved = JSON.parse(await readFile(join(stateDir, 'controlplane-config.json'), 'utf8')) as { spec: { services: { name: string }[] } };
  t.same(saved.spec.services.map((s) => s.name), [web], 'the agent saved the accepted config');
});

t.test('bad input: invalid PATCH, missing token, wrong agent token, malformed and oversized frames', async (t) => {
  const before = await readFile(specPath, 'utf8');
  const bad = await httpJson('PATCH', `${base}/v1/services/update`, token, { service: { name: web, image: TEST_IMAGE, scaleFactor: 'two', bogus: 1 } });
  t.equal(bad.status, 400);
  t.same(bad.body.errors, ['services[0].scaleFactor: expected a whole number', 'services[0].bogus: unknown key'], 'every error, with its path');
  t.equal((await httpJson('PATCH', `${base}/v1/services/update`, token, '{not json')).status, 400);
  t.equal((await httpJson('PATCH', `${base}/v1/services/update`, token, { svc: {} })).status, 400);
  t.equal((await httpJson('GET', `${base}/v1/services`, undefined)).status, 401, 'the API needs the bearer token');
  t.equal((await httpJson('GET', `${base}/v1/services`, 'wrong-token-wrong-token')).status, 401);
  t.equal(await readFile(specPath, 'utf8'), before, 'the spec file is unchanged');

  // An agent with a wrong token: a clear error and a slow retry, and it still serves its health.
  const intruder = startAgent(cpPort, join(dir, 'state-intruder'), 'not-the-token-at-all');
  const refused = await intruder.waitForLog('the refusal', (l) => typeof l.msg === 'string' && l.msg.includes('control plane refused this agent'));
  t.match(refused.msg, /rejected the machine token \(JUMPCODE\): the token does not match/);
  t.ok((refused.retryInMs as number) >= 2500, `slow retry schedule (${String(refused.retryInMs)} ms)`);
  const port = await boundPort(intruder, 'internal server listening');
  t.equal((await httpJson('GET', `http://127.0.0.1:${port}/healthz`, undefined)).status, 200, 'the rejected agent still serves');
  t.notOk(intruder.logs.some((l) => JSON.stringify(l).includes('not-the-token-at-all')), 'the token is never logged');
  await intruder.stop();

  // Raw frames on the agent endpoint.
  const ws = new WebSocket(`ws://127.0.0.1:${cpPort}/v1/agent`);
  await once(ws, 'open');
  const next = () => once(ws, 'message').then(([d]) => JSON.parse(String(d)) as Record<string, unknown>);
  let answer = next();
  ws.send('this is not json');
  t.match(await answer, { error: { text: /not JSON/, data: { code: 'COREFLOW_ERR_PROTOCOL_FRAME' } } });
  answer = next();
  ws.send(JSON.stringify({ method: 'getClusterConfig', request: {}, correlation: { id: 'x1', phase: 'request' } }));
  t.match(await answer, { correlation: { id: 'x1' }, error: { data: { code: 'COREFLOW_ERR_UNAUTHENTICATED' } } }, 'nothing before authentication');
  answer = next();
  ws.send(JSON.stringify({ method: 'dropTables', request: {}, correlation: { id: 'x2', phase: 'request' } }));
  t.match(await answer, { correlation: { id: 'x2' }, error: { text: 'unknown method "dropTables"' } });
  const closed = once(ws, 'close');
  ws.send('x'.repeat(1024 * 1024 + 1));
  t.equal((await closed)[0], 1009, 'an oversized frame closes that connection');

  // Another protocol version: a clear error naming both, then close code 4002.
  const ws2 = new WebSocket(`ws://127.0.0.1:${cpPort}/v1/agent`);
  await once(ws2, 'open');
  const versionAnswer = once(ws2, 'message').then(([d]) => JSON.parse(String(d)) as Record<string, unknown>);
  const closed2 = once(ws2, 'close');
  ws2.send(JSON.stringify({ method: 'getIdentityByToken', request: { token, protocolVersion: 99 }, correlation: { id: 'v1', phase: 'request' } }));
  t.match(await versionAnswer, { error: { text: 'protocol version mismatch: this side speaks 1, the peer 99', data: { code: 'COREFLOW_ERR_PROTOCOL_VERSION' } } });
  t.equal((await closed2)[0], 4002);

  t.equal((await httpJson('GET', `${base}/healthz`, undefined)).status, 200, 'the control plane still serves');
  const agentPort = await boundPort(agent, 'internal server listening');
  t.equal((await httpJson('GET', `http://127.0.0.1:${agentPort}/healthz`, undefined)).status, 200, 'the agent still serves');
  const svc = await serviceOf(web);
  t.equal(svc?.ID, webId, 'the workload is untouched');
});

t.test('control plane killed: workloads stay; restarted with a change: the agent reconnects and applies it', async (t) => {
  await cp.stop('SIGKILL');
  await agent.waitForLog('reconnect backoff', (l) => l.msg === 'control plane connection lost; reconnecting' && (l.attempt as number) >= 3, 30_000);
  const delays = agent.logs.filter((l) => l.msg === 'control plane connection lost; reconnecting').map((l) => l.retryInMs as number);
  t.ok(delays.length >= 3 && delays.every((d) => d > 0 && d <= 2000), `reconnects back off, capped (${delays.join(', ')} ms)`);
  const svc = await serviceOf(web);
  t.equal(svc?.ID, webId, 'the workload keeps running untouched');
  t.ok(envOf(svc).includes('GREETING=one'));

  // A change made meanwhile (the spec file the control plane starts from).
  const changed = parseYaml(await readFile(specPath, 'utf8')) as { services: { environment: Record<string, string> }[] };
  changed.services[0]!.environment.GREETING = 'two';
  await writeFile(specPath, stringifyYaml(changed));
  const runsBefore = agent.logs.filter((l) => l.msg === 'run finished').length;
  cp = startControlPlane(`127.0.0.1:${cpPort}`);
  await boundPort(cp, 'control plane listening');
  await agent.waitForLog('reauthenticated', (l) => l.msg === 'authenticated with the control plane' && agent.logs.indexOf(l) > 0 && agent.logs.filter((x) => x.msg === 'authenticated with the control plane').length >= 2);
  const updated = await waitFor('the change applied', async () => {
    const s = await serviceOf(web);
    return envOf(s).includes('GREETING=two') ? s : undefined;
  });
  t.equal(updated.ID, webId, 'updated in place');
  await waitFor('a run after reconnecting', async () => agent.logs.filter((l) => l.msg === 'run finished').length > runsBefore);

  // A clean exit writes the desired state back.
  t.equal(await cp.stop('SIGTERM'), 0, 'the control plane exits cleanly');
  const written = parseYaml(await readFile(specPath, 'utf8')) as { services: { environment: Record<string, string> }[] };
  t.equal(written.services[0]!.environment.GREETING, 'two');
});

t.test('agent restarted while the control plane is down: it reconciles from the saved config and deletes nothing', async (t) => {
  t.equal(await agent.stop('SIGTERM'), 0);
  agent = startAgent(cpPort, stateDir);
  const fallback = await agent.waitForLog('the saved config', (l) => l.msg === 'control plane unreachable; reconciling from the saved config');
  t.ok(fallback.specHash, 'names the saved config');
  const run = await agent.waitForLog('a run', (l) => l.msg === 'run finished');
  t.match(run, { status: 'succeeded', summary: { deletes: 0, creates: 0, updates: 0 } }, 'nothing to change, nothing deleted');
  const svc = await serviceOf(web);
  t.equal(svc?.ID, webId);
  t.ok(envOf(svc).includes('GREETING=two'));
  t.ok(agent.logs.some((l) => l.msg === 'control plane connection lost; reconnecting'), 'and keeps trying the control plane');
});
