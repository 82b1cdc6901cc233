import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { Agent } from '../ts/agent.ts';
import { loadConfig } from '../ts/config/config.ts';
import type { CoreflowEvent } from '../ts/observe/events.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import type { AgentStatus } from '../ts/observe/status.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, uniqueName, waitFor, WEB_COMMAND } from './helpers/swarm.ts';
import { parsePrometheusText, sampleValue } from './helpers/prom-text.ts';

/**
 * The agent's observability against the real swarm: one agent in-process (port 0, temporary
 * state folder) with a healthy web service and a service whose command exits 1.
 */
const { docker } = await connect();
const doc = testDoc('cfobs');
const cluster = doc.cluster.name;
const web = uniqueName('cfobs-web');
const failing = uniqueName('cfobs-fail');
doc.services = [
  { name: web, image: TEST_IMAGE, command: WEB_COMMAND, resources: { memoryLimitMB: 32 } },
  { name: failing, image: TEST_IMAGE, command: ['sh', '-c', 'exit 1'], resources: { memoryLimitMB: 32 } },
];
const dir = await mkdtemp(join(tmpdir(), 'cf-observe-'));
const specPath = join(dir, 'spec.yaml');
await writeFile(specPath, stringify(doc));
const config = await loadConfig({ spec: specPath, stateDir: join(dir, 'state'), port: '0', host: '127.0.0.1', taskHealthIntervalMs: '500', resyncCron: '0 0 0 1 1 *' });
const agent = new Agent(config, silentLogger());
t.teardown(async () => {
  await agent.stop();
  await cleanupCluster(docker, cluster);
  await rm(dir, { recursive: true, force: true });
});
// Result listeners that throw or reject: logged, and they stop neither the agent nor the ones after them.
const heard: string[] = [];
agent.onResult(() => {
  throw new Error('a broken result listener');
});
agent.onResult(async () => {
  throw new Error('a broken async result listener');
});
agent.onResult((r) => void heard.push(r.runId));
await agent.start();
const base = `http://127.0.0.1:${agent.server.port}`;

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(base + path);
  return (await res.json()) as T;
}

/** A real SSE client: collects events until stopped. */
function follow(path: string): { events: CoreflowEvent[]; close: () => void; ready: Promise<IncomingMessage> } {
  const events: CoreflowEvent[] = [];
  let req: ReturnType<typeof get> | undefined;
  const ready = new Promise<IncomingMessage>((resolve, reject) => {
    req = get(base + path, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)) as CoreflowEvent);
        }
      });
      resolve(res);
    });
    req.on('error', reject);
  });
  return { events, close: () => req?.destroy(), ready };
}

t.test('the first run applied both services', async (t) => {
  t.equal(agent.lastResult?.summary.creates, 4, 'two networks and two services created');
  t.ok(heard.includes(agent.lastResult!.runId), 'a listener after two broken ones heard the run');
});

t.test('/v1/events streams a run to a real HTTP client', async (t) => {
  const sse = follow('/v1/events?last=0');
  const res = await sse.ready;
  t.match(res.headers['content-type'], /^text\/event-stream/);
  const result = (await agent.reconcile('test: events'))!;
  const mine = await waitFor('the run events', async () => {
    const e = sse.events.filter((x) => x.runId === result.runId);
    return e.some((x) => x.type === 'plan.complete' && x.resourceType === 'services') ? e : undefined;
  }, 5000);
  sse.close();
  const types = mine.map((e) => `${e.type}:${e.resourceType}`);
  t.ok(types.includes('plan.start:networks'), 'plan.start of the first step');
  t.ok(types.includes('plan.complete:services'), 'plan.complete of the services');
  const complete = mine.find((e) => e.type === 'plan.complete' && e.resourceType === 'services')!;
  t.match(complete.summary, /0 to create, 0 to update, 0 to delete, 2 unchanged/);
  t.ok(complete.time && complete.seq > 0, 'each event has a time and a sequence number');

  // A new client gets the recent events first (here: the ones above).
  const replay = follow('/v1/events?last=3');
  await replay.ready;
  await waitFor('the replay', async () => replay.events.length >= 3, 5000);
  replay.close();
  t.equal(replay.events.length, 3);
});

t.test('a service removed by hand is back within 5 seconds, without waiting for the schedule', async (t) => {
  const sse = follow('/v1/events?last=0');
  await sse.ready;
  const [before] = await docker.listServices({ filters: { name: [web] } });
  t.ok(before, 'the service exists');
  const removedAt = Date.now();
  await docker.getService(before!.ID).remove();
  const after = await waitFor('the service to come back', async () => {
    const [s] = await docker.listServices({ filters: { name: [web] } });
    return s && s.ID !== before!.ID && s.Spec?.Name === web ? s : undefined;
  }, 5000, 100);
  t.ok(Date.now() - removedAt < 5000, `restored in ${Date.now() - removedAt} ms`);
  t.equal(after.Spec?.Labels?.['coreflow.cluster'], cluster, 'with our ownership labels');
  const events = await waitFor('the create event', async () => (sse.events.some((e) => e.type === 'apply.action' && e.name === web) ? sse.events : undefined), 5000);
  sse.close();
  t.ok(events.some((e) => e.type === 'drift.detected' && e.name === web), 'drift.detected for the removed service');
  t.ok(events.some((e) => e.type === 'apply.start'), 'apply.start');
  t.match(events.find((e) => e.type === 'apply.action' && e.name === web)!, { summary: `create service ${web}: succeeded` });
  t.ok(events.some((e) => e.type === 'apply.complete'), 'apply.complete');
  // The service is back before the run that restored it has finished its later steps.
  const woken = await waitFor('the run to finish', async () => (new RegExp(`service ${web} remove`).test(agent.lastResult?.trigger ?? '') ? agent.lastResult : undefined), 5000, 50);
  t.match(woken.trigger, new RegExp(`service ${web} remove`), 'the run was woken by the Docker event');
});

t.test('a service changed by hand (docker service update) is healed in place', async (t) => {
  const sse = follow('/v1/events?last=0');
  await sse.ready;
  const [live] = await docker.listServices({ filters: { name: [web] } });
  const spec = structuredClone(live!.Spec!) as { TaskTemplate: { ContainerSpec: { Env?: string[] } } };
  spec.TaskTemplate.ContainerSpec.Env = [...(spec.TaskTemplate.ContainerSpec.Env ?? []), 'BY_HAND=1'];
  await docker.getService(live!.ID).update({ version: live!.Version!.Index, ...spec });
  const healed = await waitFor('the hand-made change to be undone', async () => {
    const s = (await docker.getService(live!.ID).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Env?: string[] } } } };
    return (s.Spec.TaskTemplate.ContainerSpec.Env ?? []).includes('BY_HAND=1') ? undefined : s;
  }, 10_000, 100);
  t.ok(healed, 'the env var set by hand is gone, same service ID');
  const drift = await waitFor('drift.detected', async () => sse.events.find((e) => e.type === 'drift.detected' && e.name === web && e.resourceType === 'services'), 5000);
  sse.close();
  t.match(drift.summary, /drifted: changed outside coreflow: .*Env/);
});

t.test('a service whose command exits 1 is Degraded with the task error in /v1/status', async (t) => {
  const heard: AgentStatus[] = [];
  const off = agent.onStatus((s) => heard.push(s));
  t.teardown(off);
  agent.controllers.kick('task-health');
  const status = await waitFor('the failing service to be Degraded', async () => {
    const s = await getJson<AgentStatus>('/v1/status');
    const o = s.objects.find((x) => x.name === failing);
    return o?.health === 'Degraded' ? s : undefined;
  }, 30_000, 500);
  const bad = status.objects.find((x) => x.name === failing)!;
  t.equal(bad.kind, 'service');
  t.equal(bad.sync, 'Synced', 'it is deployed as desired');
  t.match(bad.message, /non-zero exit \(1\)/, 'the task error is in the message');
  const good = await waitFor('the web service to be Healthy', async () => {
    const s = await getJson<AgentStatus>('/v1/status');
    const o = s.objects.find((x) => x.name === web);
    return o?.health === 'Healthy' ? o : undefined;
  }, 30_000, 500);
  t.equal(good.sync, 'Synced');
  t.equal(status.overall.health, 'Degraded', 'overall health is the worst object');
  t.equal(status.overall.sync, 'Synced');
  t.equal(status.overall.operation, 'Idle');
  t.ok(status.objects.some((o) => o.kind === 'network' && o.health === 'Healthy'), 'networks are listed too');
  t.ok(status.controllers.some((c) => c.name === 'task-health' && c.running), 'controllers are listed');
  await waitFor('a pushed status', async () => heard.length > 0, 10_000);
  t.ok(heard.every((s) => s.objects.length > 0), 'status listeners (the control plane) hear the same status');
});

t.test('coreflow status prints the table for a person', async (t) => {
  const child = spawn(process.execPath, ['bin/coreflow.js', 'status', '--agent', `127.0.0.1:${agent.server.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 2, 'exit 2: not everything is healthy');
  t.comment(out);
  t.match(out, /OBJECT\s+SYNC\s+HEALTH\s+OPERATION\s+MESSAGE/);
  t.match(out, new RegExp(`service/${failing}\\s+Synced\\s+Degraded\\s+Idle\\s+.*non-zero exit \\(1\\)`));
  t.match(out, new RegExp(`service/${web}\\s+Synced\\s+Healthy`));
  t.match(out, /Overall: Synced, Degraded, Idle/);

  const bad = spawn(process.execPath, ['bin/coreflow.js', 'status', '--agent', '127.0.0.1:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
  t.equal(await new Promise<number | null>((resolve) => bad.on('close', resolve)), 1, 'exit 1 when the agent cannot be reached');
  t.match(err, /COREFLOW_ERR_AGENT_UNREACHABLE/);
});

t.test('/metrics is valid Prometheus text and its counters move with runs', async (t) => {
  const read = async () => {
    const res = await fetch(`${base}/metrics`);
    t.match(res.headers.get('content-type'), /^text\/plain/);
    return parsePrometheusText(await res.text());
  };
  const first = await read();
  const runs = (s: typeof first.samples) =>
    ['success', 'partial', 'error'].reduce((n, result) => n + (sampleValue(s, 'coreflow_reconcile_total', { controller: 'chain', result }) ?? 0), 0);
  await agent.reconcile('test: metrics');
  const second = await read();
  t.equal(runs(second.samples), runs(first.samples) + 1, 'coreflow_reconcile_total{controller="chain"} counted the run');
  t.equal(first.types.get('coreflow_reconcile_time_seconds'), 'histogram');
  t.ok(sampleValue(second.samples, 'coreflow_reconcile_time_seconds_count', { controller: 'chain' })! >= 3);
  t.ok(sampleValue(second.samples, 'coreflow_docker_requests_total', { operation: 'GET /services', code: '200' })! > 0, 'Docker requests by operation and code');
  t.ok(sampleValue(second.samples, 'coreflow_docker_requests_total', { operation: 'POST /services/create', code: '201' }) ?? sampleValue(second.samples, 'coreflow_docker_requests_total', { operation: 'POST /services/create' }), 'the writes too');
  t.equal(sampleValue(second.samples, 'coreflow_owned_objects', { kind: 'service' }), 2);
  t.equal(sampleValue(second.samples, 'coreflow_owned_objects', { kind: 'network' }), 2);
  t.equal(sampleValue(second.samples, 'coreflow_controller_running', { controller: 'drift' }), 1);
  t.equal(sampleValue(second.samples, 'coreflow_controller_running', { controller: 'task-health' }), 1);
  t.ok(sampleValue(second.samples, 'coreflow_reconcile_total', { controller: 'task-health', result: 'success' })! >= 1);
  for (const g of ['coreflow_drifted_objects', 'coreflow_controlplane_connected', 'coreflow_edge_proxies_connected', 'coreflow_routes']) {
    t.not(sampleValue(second.samples, g), undefined, `${g} is exported`);
  }
  t.ok(sampleValue(second.samples, 'coreflow_last_reconcile_timestamp_seconds', { controller: 'chain' })! > Date.now() / 1000 - 60);
});

t.test('the state file and the event log are in the state folder', async (t) => {
  const state = JSON.parse(await readFile(join(config.stateDir, 'state.json'), 'utf8')) as { version: number; lineage: string; serial: number; resources: { address: string }[] };
  t.equal(state.version, 1);
  t.match(state.lineage, /^[0-9a-f]{16}$/);
  t.ok(state.serial >= 3, `serial counts the runs (${state.serial})`);
  t.ok(state.resources.some((r) => r.address === `service.${web}`));
  await agent.reconcile('test: state');
  const next = await waitFor('the next state', async () => {
    const s = JSON.parse(await readFile(join(config.stateDir, 'state.json'), 'utf8')) as typeof state;
    return s.serial > state.serial ? s : undefined;
  }, 5000);
  t.equal(next.lineage, state.lineage, 'same lineage');
  const lines = (await readFile(join(config.stateDir, 'events.jsonl'), 'utf8')).trim().split('\n');
  t.ok(lines.length > 10, 'events are logged as JSON lines');
  t.ok(lines.every((l) => typeof (JSON.parse(l) as CoreflowEvent).type === 'string'));
});
