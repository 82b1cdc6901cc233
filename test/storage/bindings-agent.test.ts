import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify as stringifyYaml } from 'yaml';
import type { CoreflowEvent } from '../../ts/observe/events.ts';
import type { AgentStatus } from '../../ts/observe/status.ts';
import { FakeCorestore } from '../fakes/corestore.ts';
import { boundPort, followEvents, httpJson, startCoreflow, type CoreflowProc } from '../helpers/controlplane-procs.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/**
 * Bindings as the agent reports them: `coreflow controlplane` and `coreflow agent` as child
 * processes, the agent bound to the Corestore fake. Per binding status in /v1/status, the
 * coreflow_bindings metric, events, and the report the control plane shows on /v1/events; the
 * fake's credential marker in none of them nor in any log line.
 */
const { docker } = await connect();
const fake = await FakeCorestore.start();
const doc = testDoc('bndag');
const cluster = doc.cluster.name;
const bound = `${cluster}-app`;
const dir = await mkdtemp(join(tmpdir(), 'cf-bndag-'));
const specPath = join(dir, 'spec.yaml');
const tokenPath = join(dir, 'token');
const token = `tok-${cluster}-0123456789abcdef`;
doc.services = [{ name: bound, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0, bindings: [{ type: 'database' }, { type: 'objectstorage' }] }];
await writeFile(specPath, stringifyYaml(doc));
await writeFile(tokenPath, `${token}\n`);

const procs: CoreflowProc[] = [];
t.teardown(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await fake.close();
  await cleanupCluster(docker, cluster);
});

const cp = startCoreflow(['controlplane', '--spec', specPath, '--addr', '127.0.0.1:0', '--token-file', tokenPath]);
procs.push(cp);
const cpBase = `http://127.0.0.1:${await boundPort(cp, 'control plane listening')}`;
const follower = followEvents(`${cpBase}/v1/events`, token);
await follower.opened;
t.teardown(follower.close);
const agent = startCoreflow(['agent', '--host', '127.0.0.1', '--port', '0', '--state-dir', join(dir, 'state'), '--retry-base-ms', '60000'], {
  CLOUDLY_URL: `ws://${cpBase.slice('http://'.length)}`,
  JUMPCODE: token,
  COREFLOW_LOG_LEVEL: 'trace',
  CORESTORE_CONTROL_URL: fake.url,
  CORESTORE_API_TOKEN: fake.token,
});
procs.push(agent);
const base = `http://127.0.0.1:${await boundPort(agent, 'internal server listening')}`;
const seen: string[] = [];

type Binding = { kind: string; name: string; sync: string; health: string; message?: string };
const reportBindings = (e: { type: string; data: Record<string, unknown> }) => (e.type === 'report' ? ((e.data.bindings as Binding[] | undefined) ?? []) : []);

t.test('provisioned bindings: Synced/Healthy in /v1/status, the metric, events, and the control plane report', async (t) => {
  const report = await waitFor('a report with both bindings healthy', async () =>
    follower.events.find((e) => reportBindings(e).length === 2 && reportBindings(e).every((b) => b.sync === 'Synced' && b.health === 'Healthy')),
  60_000);
  t.match(reportBindings(report).map((b) => b.name).sort(), [`${bound}/database/${bound}`, `${bound}/objectstorage/${bound}`]);
  t.equal(reportBindings(report)[0]!.message, 'not provisioned', 'the first run provisioned them');
  const status = (await (await fetch(`${base}/v1/status`)).json()) as AgentStatus;
  t.match(status.objects.filter((o) => o.kind === 'binding'), [{ sync: 'Synced', health: 'Healthy' }, { sync: 'Synced', health: 'Healthy' }]);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, 'coreflow_bindings{type="database",state="ready"} 1');
  t.match(metrics, 'coreflow_bindings{type="objectstorage",state="ready"} 1');
  const events = await agentEvents();
  t.ok(events.some((e) => e.type === 'apply.action' && e.kind === 'binding' && e.name === `${bound}/database/${bound}`), 'the provisioning is an event');
  seen.push(JSON.stringify(status), metrics, JSON.stringify(events));
});

const other = { name: `${cluster}-other`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 };

t.test('the next run reports each binding with its endpoint and credential reference, nothing provisioned again', async (t) => {
  const writes = fake.writes().length;
  const res = await httpJson('PATCH', `${cpBase}/v1/services/update`, token, { service: other });
  t.equal(res.status, 200, JSON.stringify(res.body));
  const report = await waitFor('a report with the endpoints', async () =>
    follower.events.find((e) => reportBindings(e).length === 2 && reportBindings(e).every((b) => b.message?.startsWith('ready at'))),
  60_000);
  for (const b of reportBindings(report)) t.match(b.message, /^ready at \S+ \(credential \S+\/cred-1\)$/, 'endpoint and credential reference only');
  t.equal(fake.writes().length, writes, 'no provisioning call');
  seen.push(JSON.stringify(report));
});

/** The agent's /v1/events replay (the last events), read until the replay stops coming. */
async function agentEvents(): Promise<CoreflowEvent[]> {
  const ac = new AbortController();
  const res = await fetch(`${base}/v1/events?last=200`, { signal: ac.signal });
  const reader = res.body!.getReader();
  let text = '';
  const deadline = setTimeout(() => ac.abort(), 1500);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
  } catch {
    // aborted after the replay
  }
  clearTimeout(deadline);
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as CoreflowEvent);
}

t.test('Corestore refusing: the bindings are OutOfSync/Degraded with the reason, in the status and the report', async (t) => {
  fake.inject({ status: 500, times: Infinity });
  const res = await httpJson('PATCH', `${cpBase}/v1/services/update`, token, { service: { ...other, environment: { CHANGED: '1' } } });
  t.equal(res.status, 200, JSON.stringify(res.body));
  const report = await waitFor('a report with degraded bindings', async () =>
    follower.events.find((e) => reportBindings(e).length === 2 && reportBindings(e).every((b) => b.sync === 'OutOfSync' && b.health === 'Degraded')),
  60_000);
  t.match(reportBindings(report)[0]!.message, /Corestore list bindings of cluster .* failed \(500\)/);
  const services = report.data.services as { name: string; health: string; code?: string }[];
  t.match(services.find((s) => s.name === bound), { health: 'failed', code: 'COREFLOW_ERR_CORESTORE_API' });
  t.match(services.find((s) => s.name === other.name), { health: 'ok' }, 'the other service deploys');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, 'coreflow_bindings{type="database",state="failed"} 1');
  const events = await agentEvents();
  t.ok(events.some((e) => e.type === 'error' && e.kind === 'binding'), 'the failure is an error event');
  seen.push(JSON.stringify(report), metrics, JSON.stringify(events), JSON.stringify(follower.events));
});

t.test('the credential is in no log line, status, metric, event or report', async (t) => {
  const all = [...seen, ...agent.logs.map((l) => JSON.stringify(l)), ...cp.logs.map((l) => JSON.stringify(l))].join('\n');
  t.ok(fake.bindings().every((b) => Object.values(b.env).some((v) => v.includes(fake.marker))), 'the credentials carry the marker');
  t.ok(all.includes('coreflow_bindings'), 'sanity: the collection has the metrics');
  t.notOk(all.includes(fake.marker), 'no credential value');
  t.notOk(all.includes(fake.token), 'no Corestore token');
});
