import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { boundPort, httpJson, startCoreflow, type CoreflowProc } from '../helpers/controlplane-procs.ts';
import { parsePrometheusText } from '../helpers/prom-text.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor, WEB_COMMAND } from '../helpers/swarm.ts';

/**
 * Two `coreflow agent` processes on one spec, as two managers would run them: exactly one
 * reconciles, the other is a standby that says so; when the holder stops, the standby takes
 * over and, with a state directory it never wrote, converges with zero Docker writes and the
 * same object IDs.
 */

const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-two-agents-'));
const doc = testDoc('cf2ag');
const cluster = doc.cluster.name;
doc.secretBundles = [{ id: 'app', values: { DB_PASSWORD: 'two-agents-secret' } }];
doc.services = [{ name: `${cluster}-web`, image: TEST_IMAGE, command: WEB_COMMAND, scaleFactor: 0, secretBundleId: 'app' }];
const spec = join(dir, 'spec.yaml');
await writeFile(spec, stringify(doc));
t.teardown(async () => {
  await cleanupCluster(docker, cluster);
  await rm(dir, { recursive: true, force: true });
});

const API_TOKEN = 'two-agents-operator-token-7c1d';

function agent(name: string): CoreflowProc {
  const p = startCoreflow(['agent', '--port', '0', '--host', '127.0.0.1', '--spec', spec, '--state-dir', join(dir, name)], {
    COREFLOW_LEASE_SECONDS: '2',
    COREFLOW_RESYNC_CRON: '0 0 0 1 1 *',
    COREFLOW_API_TOKEN: API_TOKEN,
  });
  t.teardown(() => p.stop());
  return p;
}

/** IDs and versions of every object of the cluster. */
async function objects(): Promise<Record<string, string>> {
  const filters = { label: [`coreflow.cluster=${cluster}`] };
  const out: Record<string, string> = {};
  for (const s of await docker.listServices({ filters })) out[`service/${s.Spec!.Name}`] = `${s.ID}@${s.Version!.Index}`;
  for (const n of await docker.listNetworks({ filters })) out[`network/${n.Name}`] = n.Id;
  for (const c of await docker.listSecrets({ filters })) out[`secret/${c.Spec!.Name}`] = `${c.ID}@${c.Version!.Index}`;
  return out;
}

/** Docker writes an agent made, by operation, from its metrics: anything but GET, and but the lease (a Swarm config). */
async function writes(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const { samples } = parsePrometheusText(await res.text());
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'coreflow_docker_requests_total') continue;
    const op = s.labels.operation ?? '';
    if (op.startsWith('GET ') || op.startsWith('HEAD ') || op.includes('/configs')) continue;
    out[op] = (out[op] ?? 0) + s.value;
  }
  return out;
}

t.test('one reconciles, the other is a standby; the standby takes over when the holder stops, from an empty state dir with zero writes', async (t) => {
  const a = agent('state-a');
  const portA = await boundPort(a, 'internal server listening');
  const first = await a.waitForLog('first run', (l) => l.msg === 'run finished');
  t.match(first, { summary: { creates: 4 } }, 'the holder created the networks and the service');
  const acquired = await a.waitForLog('lease', (l) => l.msg === 'lease acquired; this agent reconciles');
  const holderA = String(acquired.holder);
  const before = await objects();
  t.equal(Object.keys(before).length, 4, JSON.stringify(before));

  const b = agent('state-b');
  const portB = await boundPort(b, 'internal server listening');
  let status = await httpJson('GET', `http://127.0.0.1:${portB}/v1/status`, undefined);
  for (let i = 0; i < 200 && (status.body.lease as { state?: string } | undefined)?.state !== 'standby'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = await httpJson('GET', `http://127.0.0.1:${portB}/v1/status`, undefined);
  }
  t.match(status.body.lease, { state: 'standby', holder: holderA, name: `${cluster}-lease`, leaseSeconds: 2 }, '/v1/status names the holder');
  const ready = await httpJson('GET', `http://127.0.0.1:${portB}/readyz`, undefined);
  t.equal(ready.status, 503, 'a standby is not ready');
  t.match((ready.body.failing as Record<string, string>).lease, new RegExp(`^standby: lease ${cluster}-lease held by ${holderA.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  t.equal((await httpJson('GET', `http://127.0.0.1:${portB}/healthz`, undefined)).status, 200, 'and healthy');
  const metrics = parsePrometheusText(await (await fetch(`http://127.0.0.1:${portB}/metrics`)).text()).samples;
  t.equal(metrics.find((s) => s.name === 'coreflow_lease_held')?.value, 0);
  t.ok(metrics.some((s) => s.name === 'coreflow_lease_holder' && s.labels.holder === holderA && s.value === 1), 'the metrics name the holder');
  t.notOk(b.logs.some((l) => l.msg === 'run started'), 'the standby ran nothing');
  t.same(await writes(portB), {}, 'the standby wrote nothing to Docker');
  t.same(await readdir(join(dir, 'state-b')).catch(() => []), [], 'nor a state file');
  const backup = await httpJson('POST', `http://127.0.0.1:${portB}/v1/backups`, API_TOKEN, { service: `${cluster}-web` });
  t.equal(backup.status, 503, `a standby starts no backup: ${JSON.stringify(backup.body)}`);
  t.match(backup.body, { code: 'COREFLOW_ERR_NOT_READY', error: /run on the agent that holds the lease; this one is not: standby: lease .* held by / });

  const stateA = (await httpJson('GET', `http://127.0.0.1:${portA}/v1/status`, undefined)).body.state as { lineage: string; serial: number };
  // The holder stops cleanly (it releases the lease): the standby takes over.
  t.equal(await a.stop(), 0);
  t.ok(a.logs.some((l) => l.msg === 'lease released'));
  const took = await b.waitForLog('takeover', (l) => l.msg === 'lease acquired; this agent reconciles', 20_000);
  t.equal(took.how, 'released');
  const run = await b.waitForLog('the new holder\'s first run', (l) => l.msg === 'run finished', 20_000);
  t.match(run, { status: 'succeeded', summary: { creates: 0, updates: 0, deletes: 0, unchanged: 4 } }, 'nothing to do from an empty state dir');
  t.same(await writes(portB), {}, 'zero Docker writes');
  t.same(await objects(), before, 'the same objects, IDs and versions: nothing duplicated, removed or updated');
  // The state file is written just after the run: wait for it.
  const stateB = await waitFor('the new holder\'s state file', async () => {
    const st = (await httpJson('GET', `http://127.0.0.1:${portB}/v1/status`, undefined)).body.state as { lineage: string; serial: number; lastApplied?: unknown };
    return st.lastApplied ? st : undefined;
  }, 10_000, 50);
  t.equal(stateB.lineage, stateA.lineage, 'the new holder continues the lineage the lease carried');
  t.ok(stateB.serial > stateA.serial, `serial ${stateB.serial} follows ${stateA.serial}`);

  // A holder that dies without releasing: a standby takes over once the lease time passed.
  const c = agent('state-c');
  const portC = await boundPort(c, 'internal server listening');
  for (let i = 0; i < 200; i++) {
    const st = await httpJson('GET', `http://127.0.0.1:${portC}/v1/status`, undefined);
    if ((st.body.lease as { state?: string } | undefined)?.state === 'standby') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  b.proc.kill('SIGKILL');
  const expired = await c.waitForLog('takeover after expiry', (l) => l.msg === 'lease acquired; this agent reconciles', 20_000);
  t.equal(expired.how, 'expired');
  t.match(await c.waitForLog('run', (l) => l.msg === 'run finished', 20_000), { summary: { creates: 0, updates: 0, deletes: 0 } });
  t.same(await writes(portC), {}, 'zero Docker writes after the takeover');
  t.same(await objects(), before, 'still the same objects');
  t.equal(await c.stop(), 0);
});

t.test('an agent whose lease is taken behind its back stops reconciling and exits with 1', async (t) => {
  const solo = testDoc('cf2al');
  t.teardown(() => cleanupCluster(docker, solo.cluster.name));
  const soloSpec = join(dir, 'solo.yaml');
  await writeFile(soloSpec, stringify(solo));
  const p = startCoreflow(['agent', '--port', '0', '--host', '127.0.0.1', '--spec', soloSpec, '--state-dir', join(dir, 'state-solo')], { COREFLOW_LEASE_SECONDS: '2', COREFLOW_RESYNC_CRON: '0 0 0 1 1 *' });
  t.teardown(() => p.stop());
  await p.waitForLog('first run', (l) => l.msg === 'run finished');
  const [cfg] = (await docker.listConfigs({ filters: { name: [`${solo.cluster.name}-lease`] } })) as unknown as { ID: string; Version: { Index: number }; Spec: { Name: string; Labels: Record<string, string>; Data: string } }[];
  await docker.getConfig(cfg!.ID).update({ _query: { version: cfg!.Version.Index }, _body: { ...cfg!.Spec, Labels: { ...cfg!.Spec.Labels, 'coreflow.lease.holder': 'another-agent' } } });
  const lost = await p.waitForLog('lease lost', (l) => l.code === 'COREFLOW_ERR_LEASE_LOST', 10_000);
  t.match(String(lost.err), /now held by another-agent|another agent wrote the lease/);
  t.equal(await p.stop('SIGCONT'), 1, 'exit 1: Swarm starts it again, as a standby');
  t.ok(p.logs.some((l) => l.msg === 'stopped'), 'it stopped cleanly first');
});
