import t from 'tap';
import { once } from 'node:events';
import { mock } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../ts/protocol/envelope.ts';
import { methods, type StatusReport } from '../../ts/protocol/methods.ts';
import { Peer } from '../../ts/protocol/peer.ts';
import { ControlPlaneSource } from '../../ts/sources/controlplane-source.ts';
import { agentUrl, RECONNECT_BASE_MS, RECONNECT_RAMP, reconnectDelay } from '../../ts/sources/controlplane-connection.ts';
import { DesiredState } from '../../ts/sources/desired-state.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';
import { Agent } from '../../ts/agent.ts';
import { loadConfig } from '../../ts/config/config.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { buildStatus, type AgentStatus, type HealthInfo } from '../../ts/observe/status.ts';
import type { RunResult } from '../../ts/reconcile/types.ts';
import { CoreflowError } from '../../ts/errors.ts';

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/**
 * Waits for `check` without timers (the test may have mocked them): yields to I/O between
 * checks, up to 10 s of real time.
 */
async function untilNoTimers(what: string, check: () => boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * A protocol server built from the same Peer class: authenticates `token`, serves `doc`, and
 * exposes the connected peers so tests can push.
 */
async function server(t: { teardown: (fn: () => void) => void }, token: string, doc: () => Record<string, unknown>) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: MAX_FRAME_BYTES });
  await once(wss, 'listening');
  const peers: Peer<typeof methods>[] = [];
  const reports: { at: number; report: StatusReport }[] = [];
  wss.on('connection', (ws) => {
    const peer = new Peer(ws, { methods, log: pino({ level: 'silent' }) });
    peer.handle('getIdentityByToken', (req) => {
      if (req.token !== token) throw new CoreflowError('COREFLOW_ERR_AUTH', { details: 'the token does not match' });
      return { protocolVersion: PROTOCOL_VERSION, identity: { clusterName: (doc().cluster as { name: string }).name, role: 'cluster' as const, expiresAt: null } };
    });
    peer.handle('getClusterConfig', () => ({ spec: doc() }));
    peer.handle('reportStatus', (report) => {
      reports.push({ at: Date.now(), report });
      return { received: true as const };
    });
    peers.push(peer);
  });
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  return { wss, peers, reports, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

t.test('agentUrl maps http(s) and adds the default path', async (t) => {
  t.equal(agentUrl('https://cp.example.com'), 'wss://cp.example.com/v1/agent');
  t.equal(agentUrl('ws://127.0.0.1:4400/'), 'ws://127.0.0.1:4400/v1/agent');
  t.equal(agentUrl('wss://cp.example.com/custom/path'), 'wss://cp.example.com/custom/path');
});

t.test('pushes: every error for a bad document, identity checked, newest wins, saved atomically', async (t) => {
  const doc = testDoc('cf4src');
  const srv = await server(t, 'secret-token-1234', () => doc);
  const stateDir = await mkdtemp(join(tmpdir(), 'coreflow-src-'));
  const desired = new DesiredState();
  const { log } = capturingLogger();
  const source = new ControlPlaneSource({ url: srv.url, token: 'secret-token-1234', stateDir, desired, log, reconnectMaxMs: 1000, pingIntervalMs: 60_000, authRetryMs: 1000 });
  t.teardown(() => source.stop());
  await source.start();
  t.equal(desired.get()?.spec.cluster.name, doc.cluster.name, 'the fetched config is in force');
  const peer = srv.peers[0]!;

  const bad = await peer.request('pushClusterConfig', { spec: { ...doc, services: [{ name: 'a', scaleFactor: -1 }, { name: 'b b' }] } });
  t.same(bad, {
    accepted: false,
    errors: [
      'services[0].scaleFactor: expected a number >= 0',
      'services[1].name: expected a Docker object name: letters, digits, "_", "." and "-", starting with a letter or digit, at most 63 characters',
    ],
  });
  const other = await peer.request('pushClusterConfig', { spec: { ...doc, cluster: { name: 'someone-else' } } });
  t.match(other, { accepted: false, errors: [/cluster\.name: expected "cf4src-/] });
  t.same(desired.get()?.spec.services, [], 'rejected documents change nothing');

  const seen: string[] = [];
  desired.onChange((l) => seen.push(l.spec.services.map((s) => s.name).join(',')));
  const answers = await Promise.all(
    ['one', 'two', 'three'].map((n) => peer.request('pushClusterConfig', { spec: { ...doc, services: [{ name: n, image: 'busybox:1' }] } })),
  );
  t.ok(answers.every((a) => a.accepted), 'all accepted');
  t.equal(seen.at(-1), 'three', 'the newest document is in force');
  const saved = JSON.parse(await readFile(join(stateDir, 'controlplane-config.json'), 'utf8')) as { spec: { services: { name: string }[] }; specHash: string };
  t.same(saved.spec.services.map((s) => s.name), ['three'], 'the saved config is the newest');
  t.equal(saved.specHash, desired.get()?.hash);
});

t.test('a dead connection is detected by keepalive and redialled', async (t) => {
  const doc = testDoc('cf4src');
  const srv = await server(t, 'secret-token-1234', () => doc);
  const stateDir = await mkdtemp(join(tmpdir(), 'coreflow-src-'));
  const { log, lines } = capturingLogger();
  const source = new ControlPlaneSource({ url: srv.url, token: 'secret-token-1234', stateDir, desired: new DesiredState(), log, reconnectMaxMs: 500, pingIntervalMs: 200, authRetryMs: 1000 });
  t.teardown(() => source.stop());
  await source.start();
  t.ok(source.connected);
  // The server stops reading: no pongs come back, as with a silently dropped network path.
  [...srv.wss.clients][0]!.pause();
  const second = once(srv.wss, 'connection');
  await second;
  t.ok(lines.some((l) => l.msg === 'no pong from the peer; terminating the dead connection'), 'the dead connection was detected');
  t.ok(lines.some((l) => l.msg === 'control plane connection lost; reconnecting'), 'and redialled with backoff');
});

t.test('reconnect: a healthy connection lost is redialled at once (jittered); a flapping one keeps backing off', async (t) => {
  const doc = testDoc('cf4src');
  const srv = await server(t, 'secret-token-1234', () => doc);
  const stateDir = await mkdtemp(join(tmpdir(), 'coreflow-src-'));
  const { log, lines } = capturingLogger();
  let healthyAfterMs = 0;
  const source = new ControlPlaneSource({ url: srv.url, token: 'secret-token-1234', stateDir, desired: new DesiredState(), log, reconnectMaxMs: 60_000, pingIntervalMs: 60_000, authRetryMs: 1000, get healthyAfterMs() { return healthyAfterMs; } });
  t.teardown(() => source.stop());
  await source.start();
  const lost = () => lines.filter((l) => l.msg === 'control plane connection lost; reconnecting');
  const dropAndWaitForRedial = async (n: number) => {
    const next = once(srv.wss, 'connection');
    for (const c of srv.wss.clients) c.close(1001, 'control plane restarting');
    await next;
    await waitFor('authenticated again', async () => lines.filter((l) => l.msg === 'authenticated with the control plane').length >= n + 1 || undefined, 10_000, 10);
    return lost().at(-1)!;
  };
  const first = await dropAndWaitForRedial(1);
  t.equal(first.attempt, 1, 'the first retry of a new outage');
  t.ok((first.retryInMs as number) <= RECONNECT_BASE_MS, `quick: ${String(first.retryInMs)} ms`);
  healthyAfterMs = 60_000;
  // Lost right after authenticating: not healthy, so the backoff goes on from where it was.
  await dropAndWaitForRedial(2);
  const third = await dropAndWaitForRedial(3);
  t.equal(third.attempt, 3, 'a connection lost before it was healthy does not reset the backoff');
});

t.test('the reconnect schedule: quick first retries, a ceiling that grows with the outage, the cap only after a sustained one', async (t) => {
  const max = () => 0.9999999;
  const min = () => 0;
  t.equal(reconnectDelay(0, 0, 60_000, max), RECONNECT_BASE_MS, 'first retry: at most the base');
  t.equal(reconnectDelay(0, 0, 60_000, min), RECONNECT_BASE_MS / 2, 'and at least half of it (jitter)');
  t.equal(reconnectDelay(1, 1000, 60_000, max), 600, 'the ceiling (base + outage / ramp) holds the exponential back');
  t.equal(reconnectDelay(30, 60_000, 60_000, max), RECONNECT_BASE_MS + 60_000 / RECONNECT_RAMP, 'after a minute of outage: a few seconds');
  t.equal(reconnectDelay(30, 20 * 60_000, 60_000, max), 60_000, 'after a sustained outage: the cap');
  t.equal(reconnectDelay(30, 20 * 60_000, 60_000, min), 30_000, 'jittered down to half the cap');
  t.equal(reconnectDelay(3, 20 * 60_000, 60_000, max), 4000, 'still exponential from the base within an outage');
});

t.test('a wrong token: a clear error, a slow retry, and the saved config in force', async (t) => {
  const doc = testDoc('cf4src');
  const srv = await server(t, 'secret-token-1234', () => doc);
  const stateDir = await mkdtemp(join(tmpdir(), 'coreflow-src-'));
  // First a good session saves a config...
  const first = new ControlPlaneSource({ url: srv.url, token: 'secret-token-1234', stateDir, desired: new DesiredState(), log: pino({ level: 'silent' }), reconnectMaxMs: 500, pingIntervalMs: 60_000, authRetryMs: 1000 });
  await first.start();
  await first.stop();
  // ...then an agent with a bad token starts from it.
  const { log, lines } = capturingLogger();
  const desired = new DesiredState();
  const source = new ControlPlaneSource({ url: srv.url, token: 'wrong-token-9999', stateDir, desired, log, reconnectMaxMs: 500, pingIntervalMs: 60_000, authRetryMs: 4000 });
  t.teardown(() => source.stop());
  await source.start();
  t.equal(desired.get()?.spec.cluster.name, doc.cluster.name, 'the saved config is in force');
  const refused = await waitFor('the refusal', async () => lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('control plane refused this agent')), 5000, 20);
  t.match(refused, { level: 50, code: 'COREFLOW_ERR_AUTH', msg: /rejected the machine token \(JUMPCODE\): the token does not match/ }, 'the refusal is logged as an error, with its code');
  t.ok((refused?.retryInMs as number) >= 2000, 'on the slow schedule');
  t.notOk(JSON.stringify(lines).includes('wrong-token-9999'), 'the token is not logged');
});

t.test('wss:// with a private CA from COREFLOW_CA_FILE', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-tls-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=coreflow test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '1', '-extfile', 'ext.cnf']);
  const https = createHttpsServer({ cert: await readFile(join(dir, 'srv.pem')), key: await readFile(join(dir, 'srv.key')) });
  const wss = new WebSocketServer({ server: https, maxPayload: MAX_FRAME_BYTES });
  const doc = testDoc('cf4tls');
  wss.on('connection', (ws) => {
    const peer = new Peer(ws, { methods, log: pino({ level: 'silent' }) });
    peer.handle('getIdentityByToken', () => ({ protocolVersion: PROTOCOL_VERSION, identity: { clusterName: doc.cluster.name, role: 'cluster' as const, expiresAt: null } }));
    peer.handle('getClusterConfig', () => ({ spec: doc }));
  });
  https.listen(0, '127.0.0.1');
  await once(https, 'listening');
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    https.close();
  });
  const url = `wss://127.0.0.1:${(https.address() as AddressInfo).port}`;
  const opts = { url, token: 'secret-token-1234', reconnectMaxMs: 500, pingIntervalMs: 60_000, authRetryMs: 1000, firstConfigWaitMs: 3000 };

  const untrusted = capturingLogger();
  const without = new ControlPlaneSource({ ...opts, stateDir: join(dir, 's1'), desired: new DesiredState(), log: untrusted.log });
  await without.start();
  await without.stop();
  t.notOk(without.connected, 'an unknown CA is refused');
  t.ok(untrusted.lines.some((l) => /self.signed|unable to verify|certificate/i.test(String(l.err))), 'with a TLS error in the log');

  const desired = new DesiredState();
  const withCa = new ControlPlaneSource({ ...opts, caFile: join(dir, 'ca.pem'), stateDir: join(dir, 's2'), desired, log: pino({ level: 'silent' }) });
  t.teardown(() => withCa.stop());
  await withCa.start();
  t.equal(desired.get()?.spec.cluster.name, doc.cluster.name, 'connected over TLS with the CA file');
  const missing = new ControlPlaneSource({ ...opts, caFile: join(dir, 'nope.pem'), stateDir: join(dir, 's3'), desired: new DesiredState(), log: pino({ level: 'silent' }) });
  await t.rejects(missing.start(), /COREFLOW_CA_FILE \(--ca-file\): cannot read .*nope\.pem/);
  const notPem = new ControlPlaneSource({ ...opts, caFile: join(dir, 'ext.cnf'), stateDir: join(dir, 's4'), desired: new DesiredState(), log: pino({ level: 'silent' }) });
  await t.rejects(notPem.start(), /holds no PEM certificate/);
});

t.test('routing certificates come from getCertificateForDomain', async (t) => {
  const doc = testDoc('cf4cert');
  const srv = await server(t, 'secret-token-1234', () => doc);
  srv.wss.on('connection', () => {
    const peer = srv.peers.at(-1)!;
    peer.handle('getCertificateForDomain', (req) => {
      if (req.domain === 'known.example.com') return { domain: req.domain, certPem: 'CERT', keyPem: 'KEY', expiresAt: '2030-01-01T00:00:00Z' };
      throw new CoreflowError('COREFLOW_ERR_NO_CERTIFICATE', { domain: req.domain });
    });
  });
  const source = new ControlPlaneSource({ url: srv.url, token: 'secret-token-1234', stateDir: await mkdtemp(join(tmpdir(), 'coreflow-src-')), desired: new DesiredState(), log: pino({ level: 'silent' }), reconnectMaxMs: 500, pingIntervalMs: 60_000, authRetryMs: 1000 });
  await t.rejects(source.getCertificateForDomain('known.example.com'), { code: 'COREFLOW_ERR_PEER_CLOSED' }, 'not connected: an error, not "no certificate"');
  t.teardown(() => source.stop());
  await source.start();
  t.same(await source.getCertificateForDomain('known.example.com'), { publicKey: 'CERT', privateKey: 'KEY' });
  t.equal(await source.getCertificateForDomain('other.example.com'), undefined, 'none for this domain');
});

t.test('health reports between runs: none before the first run, coalesced, none when nothing changed', async (t) => {
  const doc = testDoc('cf4coal');
  const srv = await server(t, 'secret-token-1234', () => doc);
  const result: RunResult = {
    runId: 'r1', trigger: 'start', dryRun: false, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), durationMs: 1, status: 'succeeded', specHash: 'h',
    steps: [{ kind: 'services', status: 'succeeded', durationMs: 1, actions: [{ kind: 'service', name: 'web', type: 'create', reason: 'not present', status: 'succeeded', durationMs: 1 }] }],
    summary: { creates: 1, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 },
  };
  let health: HealthInfo = { health: 'Progressing', message: '0/1 task(s) running' };
  const status = () => buildStatus({ result, health: new Map([['web', health]]), busy: false, waiting: new Set() });
  const source = new ControlPlaneSource({
    url: srv.url, token: 'secret-token-1234', stateDir: await mkdtemp(join(tmpdir(), 'coreflow-src-')), desired: new DesiredState(), log: pino({ level: 'silent' }),
    reconnectMaxMs: 500, pingIntervalMs: 60_000, authRetryMs: 1000, status, healthReportIntervalMs: 400,
  });
  t.teardown(() => source.stop());
  await source.start();
  // From here the source's timers and clock are the test's: time moves only by tick(). Reports
  // go over one WebSocket in order, so once a later report has arrived, any earlier one has too.
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() });
  t.teardown(() => mock.timers.reset());
  const received = (n: number) => untilNoTimers(`${n} report(s)`, () => srv.reports.length >= n);

  source.statusChanged();
  mock.timers.tick(10_000);
  source.report(result);
  await received(1);
  t.same(srv.reports.map((r) => r.report.reason), ['run'], 'nothing before the first run: its report is the first');
  t.match(srv.reports[0]!.report, { reason: 'run', status: { objects: [{ name: 'web', health: 'Progressing' }] } });

  source.statusChanged();
  mock.timers.tick(10_000);
  health = { health: 'Degraded', message: 'task failed' };
  source.statusChanged();
  mock.timers.tick(10_000);
  await received(2);
  t.same(srv.reports.map((r) => r.report.reason), ['run', 'health'], 'an unchanged status is not reported again; a changed one is');
  t.match(srv.reports[1]!.report.status.objects[0], { name: 'web', health: 'Degraded', message: 'task failed' });

  // 20 changes 50 ms apart (1 s): at most one report per 400 ms, and the newest status wins.
  for (let i = 1; i <= 20; i++) {
    health = { health: i % 2 ? 'Degraded' : 'Progressing', message: `change ${i}` };
    source.statusChanged();
    mock.timers.tick(50);
  }
  mock.timers.tick(10_000);
  source.report(result);
  await untilNoTimers('the run report after the changes', () => srv.reports.at(-1)?.report.reason === 'run' && srv.reports.length > 2);
  const burst = srv.reports.slice(2, -1);
  t.ok(burst.length >= 1 && burst.length <= 4 && burst.every((r) => r.report.reason === 'health'), `20 changes in 1 s: ${burst.length} health report(s)`);
  t.match(burst.at(-1)!.report.status.objects[0], { name: 'web', health: 'Progressing', message: 'change 20' }, 'the newest status wins');
});

t.test('a real agent reports the three-axis status of /v1/status, also when a service turns Degraded between runs', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('cf4rep');
  const cluster = doc.cluster.name;
  const failing = `${cluster}-fail`;
  const secretValue = `hunter2-${cluster}-value`;
  doc.services = [{ name: failing, image: TEST_IMAGE, command: ['sh', '-c', 'exit 1'], resources: { memoryLimitMB: 32 } }];
  (doc as Record<string, unknown>).secretBundles = [{ id: `${cluster}-bundle`, values: { DB_PASSWORD: secretValue } }];
  const srv = await server(t, 'secret-token-1234', () => doc);
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-rep-'));
  const config = await loadConfig({
    cloudlyUrl: srv.url,
    jumpcode: 'secret-token-1234',
    stateDir: join(dir, 'state'),
    host: '127.0.0.1',
    port: '0',
    taskHealthIntervalMs: '500',
    resyncCron: '0 0 0 1 1 *',
    reconnectMaxMs: '500',
  });
  const agent = new Agent(config, silentLogger());
  t.teardown(async () => {
    await agent.stop();
    await cleanupCluster(docker, cluster);
  });
  await agent.start();
  const base = `http://127.0.0.1:${agent.server.port}`;

  const run = await waitFor('the report of the first run', async () => srv.reports.find((r) => r.report.reason === 'run'), 60_000);
  t.ok(run.report.services.some((s) => s.name === failing && s.action === 'create'), 'the run report still lists what the run did');
  t.match(run.report.status.objects.find((o) => o.name === failing), { kind: 'service', sync: 'Synced' }, 'and the status of that moment');

  const degraded = await waitFor(
    'a report with the service Degraded',
    async () => srv.reports.find((r) => r.report.status.objects.some((o) => o.name === failing && o.health === 'Degraded')),
    60_000,
  );
  t.equal(degraded.report.reason, 'health', 'sent between runs, when task health saw the failing tasks');
  t.match(degraded.report.status.objects.find((o) => o.name === failing), { kind: 'service', sync: 'Synced', health: 'Degraded', operation: 'Idle', message: /non-zero exit/ });
  t.match(degraded.report.status.overall, { sync: 'Synced', health: 'Degraded', message: new RegExp(`service ${failing}`) });

  const local = (await (await fetch(`${base}/v1/status`)).json()) as AgentStatus;
  const axes = (objects: AgentStatus['objects']) => objects.map((o) => [o.kind, o.name, o.sync, o.health]);
  t.same(axes(degraded.report.status.objects), axes(local.objects), '/v1/status and the control plane agree');
  t.match(local.overall, { sync: degraded.report.status.overall.sync, health: degraded.report.status.overall.health });

  t.match(await (await fetch(`${base}/metrics`)).text(), /^coreflow_controlplane_connected 1$/m, 'connected gauge set');
  // The crash loop keeps task health busy: whatever it reports stays spaced (one per 5 s at
  // most), not one per check. Wait for 10 more checks (500 ms apart), each of which may report.
  const checks = async () => ((await (await fetch(`${base}/v1/status`)).json()) as AgentStatus).controllers?.find((c) => c.name === 'task-health')?.runs ?? 0;
  const from = await checks();
  await waitFor('10 more task-health checks', async () => (await checks()) >= from + 10, 30_000, 100);
  const health = srv.reports.filter((r) => r.report.reason === 'health');
  t.ok(health.includes(degraded), `the Degraded report is one of ${health.length} health report(s)`);
  for (let i = 1; i < health.length; i++) t.ok(health[i]!.at - health[i - 1]!.at >= 4000, `health reports coalesced (${health[i]!.at - health[i - 1]!.at} ms apart)`);
  t.notOk(JSON.stringify(srv.reports).includes(secretValue), 'reports never carry secret values');

  for (const c of srv.wss.clients) c.terminate();
  srv.wss.close();
  await waitFor('the gauge to drop', async () => /^coreflow_controlplane_connected 0$/m.test(await (await fetch(`${base}/metrics`)).text()), 10_000);
  t.pass('disconnected: gauge 0');
});
