import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WebSocketServer } from 'ws';
import { silentLogger } from '../../ts/observe/logger.ts';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../ts/protocol/envelope.ts';
import { methods } from '../../ts/protocol/methods.ts';
import { Peer } from '../../ts/protocol/peer.ts';
import { ControlPlaneSource } from '../../ts/sources/controlplane-source.ts';
import { DesiredState } from '../../ts/sources/desired-state.ts';
import { DEFAULT_SPEC_LIMITS } from '../../ts/spec/limits.ts';
import { OffThreadParser } from '../../ts/spec/off-thread-parser.ts';
import { testDoc } from '../helpers/swarm.ts';

t.test('pushed documents are validated off the main thread, within the agent\'s limits', async (t) => {
  const doc = testDoc('cf4pushlim');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: MAX_FRAME_BYTES });
  await once(wss, 'listening');
  const peers: Peer<typeof methods>[] = [];
  wss.on('connection', (ws) => {
    const peer = new Peer(ws, { methods, log: silentLogger() });
    peer.handle('getIdentityByToken', () => ({ protocolVersion: PROTOCOL_VERSION, identity: { clusterName: doc.cluster.name, role: 'cluster' as const, expiresAt: null } }));
    peer.handle('getClusterConfig', () => ({ spec: doc }));
    peer.handle('reportStatus', () => ({ received: true as const }));
    peers.push(peer);
  });
  const stateDir = await mkdtemp(join(tmpdir(), 'coreflow-push-limits-'));
  const parser = new OffThreadParser({ limits: { ...DEFAULT_SPEC_LIMITS, maxServices: 2, maxDepth: 8 }, timeoutMs: 30_000, log: silentLogger(), idleMs: 60_000 });
  const desired = new DesiredState(parser);
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const source = new ControlPlaneSource({ url, token: 'secret-token-1234', stateDir, desired, log: silentLogger(), reconnectMaxMs: 1000, pingIntervalMs: 60_000, authRetryMs: 1000 });
  t.teardown(async () => {
    source.stop();
    for (const c of wss.clients) c.terminate();
    wss.close();
    await parser.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  await source.start();
  t.equal(desired.get()?.spec.cluster.name, doc.cluster.name, 'the fetched config is in force');
  const peer = peers[0]!;

  const many = await peer.request('pushClusterConfig', { spec: { ...doc, services: ['a', 'b', 'c'].map((name) => ({ name, image: 'busybox:1' })) } });
  t.same(many, { accepted: false, errors: ['services: the number of services is 3, over the limit of 2 (setting COREFLOW_SPEC_MAX_SERVICES, --spec-max-services)'] });
  let labels: unknown = 'x';
  for (let i = 0; i < 10; i++) labels = { a: labels };
  const deep = await peer.request('pushClusterConfig', { spec: { ...doc, services: [{ name: 'a', image: 'busybox:1', labels }] } });
  t.match(deep, { accepted: false, errors: [/^services\[0\]\.labels\.a\.a\.a\.a\.a: the nesting depth is more than 8 levels, over the limit of 8 levels/] });
  t.same(desired.get()?.spec.services, [], 'refused documents change nothing');

  const ok = await peer.request('pushClusterConfig', { spec: { ...doc, services: [{ name: 'a', image: 'busybox:1' }] } });
  t.match(ok, { accepted: true });
  t.same(desired.get()?.spec.services.map((s) => s.name), ['a'], 'a document within the limits is in force');
  t.equal(parser.workersStarted, 1, 'one worker validated them all');
});
