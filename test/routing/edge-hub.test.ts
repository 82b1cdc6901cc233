import { PassThrough } from 'node:stream';
import t from 'tap';
import { WebSocket } from 'ws';
import { createLogger, silentLogger } from '../../ts/observe/logger.ts';
import { MAX_FRAME_BYTES } from '../../ts/protocol/envelope.ts';
import { EDGE_PATH, EdgeHub } from '../../ts/routing/edge-hub.ts';
import type { RouteEntry } from '../../ts/routing/types.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';
import { DockerEventStream } from '../../ts/docker/event-stream.ts';
import { RoutingController, ROUTING_EVENT_TYPES } from '../../ts/routing/routing-controller.ts';
import type { LoadedSpec } from '../../ts/spec/parse.ts';
import { TestEdgeClient, upgradeStatus } from '../helpers/routing.ts';
import { connect, load, testDoc, until } from '../helpers/swarm.ts';

const TOKEN = 'a-token-of-enough-length-42';
const route = (ip: string): RouteEntry => ({ hostName: 'a.example.test', destinationIps: [ip], destinationPorts: [80], privateKey: '', publicKey: '' });

async function serve(t: { teardown: (fn: () => Promise<void>) => void }, hubOpts: Partial<ConstructorParameters<typeof EdgeHub>[0]> = {}) {
  const hub = new EdgeHub({ token: TOKEN, log: silentLogger(), responseTimeoutMs: 500, ...hubOpts });
  const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
  server.onUpgrade(EDGE_PATH, hub.handleUpgrade);
  await server.start();
  t.teardown(async () => {
    await hub.stop();
    await server.stop();
  });
  return { hub, url: `ws://127.0.0.1:${server.port}${EDGE_PATH}` };
}

/**
 * A raw edge speaking the wire format of docs/protocol.md by hand (no Peer): records every frame
 * and answers each updateRouting with `answer()` (a response payload, an envelope error, or
 * nothing at all for `undefined`).
 */
async function rawEdge(url: string, answer: () => { response: unknown } | { error: unknown } | undefined) {
  const frames: any[] = [];
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  ws.on('message', (d) => {
    const env = JSON.parse(String(d));
    frames.push(env);
    const a = env.correlation.phase === 'request' ? answer() : undefined;
    if (a) ws.send(JSON.stringify({ method: env.method, request: null, ...a, correlation: { id: env.correlation.id, phase: 'response' } }));
  });
  await new Promise((r) => ws.once('open', r));
  return { ws, frames };
}

const ok = () => ({ response: { status: 'ok' } });

t.test('tokens: wrong, missing and unset are refused with 401; a disabled sink answers 404', async (t) => {
  const { url } = await serve(t);
  t.equal(await upgradeStatus(url, 'nope-nope-nope-nope-nope'), 401);
  t.equal(await upgradeStatus(url, TOKEN.slice(0, -1) + 'x'), 401, 'same length, one character off');
  t.equal(await upgradeStatus(url, ''), 401);
  t.equal(await upgradeStatus(url, TOKEN), 101);
  const unset = await serve(t, { token: undefined });
  t.equal(await upgradeStatus(unset.url, TOKEN), 401, 'no COREFLOW_EDGE_TOKEN: nobody gets in');
  const off = await serve(t, { enabled: () => false });
  t.equal(await upgradeStatus(off.url, TOKEN), 404);
});

t.test('a wrong token gets 401 at all times; the right one waits for the first desired state; 404 only when the spec turns edges off', async (t) => {
  let enabled: boolean | undefined;
  const { hub, url } = await serve(t, { enabled: () => enabled });
  t.equal(await upgradeStatus(url, 'nope-nope-nope-nope-nope'), 401, 'no desired state yet: a wrong token is still refused with 401');
  const edge = await TestEdgeClient.connect(url, TOKEN);
  t.teardown(() => edge.close());
  t.equal(edge.received.length, 0, 'no table before there is one');
  enabled = true;
  hub.publish([route('10.0.0.7')], 'h1');
  const table = await edge.waitForTable(() => true, 0, 5000);
  t.same(table.routes.map((r) => r.destinationIps), [['10.0.0.7']], 'the edge that waited gets the first table');
  enabled = false;
  t.equal(await upgradeStatus(url, 'nope-nope-nope-nope-nope'), 401, 'edges off: a wrong token still gets 401');
  t.equal(await upgradeStatus(url, TOKEN), 404, 'edges off: the right token gets 404');
});

t.test('the routing controller: before the first desired state, a wrong token gets 401 and the right one is accepted', async (t) => {
  const { docker } = await connect();
  let desired: LoadedSpec | undefined;
  const events = new DockerEventStream(docker, { types: ROUTING_EVENT_TYPES, log: silentLogger() });
  const controller = new RoutingController({ docker, events, desired: () => desired, log: silentLogger(), edgeToken: TOKEN });
  const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
  server.onUpgrade(EDGE_PATH, controller.edge.handleUpgrade);
  await server.start();
  t.teardown(async () => {
    await controller.edge.stop();
    await server.stop();
  });
  const url = `ws://127.0.0.1:${server.port}${EDGE_PATH}`;
  t.equal(await upgradeStatus(url, 'nope-nope-nope-nope-nope'), 401);
  t.equal(await upgradeStatus(url, TOKEN), 101);
  desired = load({ ...testDoc('edge401'), routing: { edge: { enabled: false } } });
  t.equal(await upgradeStatus(url, TOKEN), 404, 'a desired state with routing.edge.enabled false turns edges off');
  t.equal(await upgradeStatus(url, 'nope-nope-nope-nope-nope'), 401);
});

t.test('the table on connect, then only changes, in the documented envelope', async (t) => {
  const { hub, url } = await serve(t);
  hub.publish([route('10.0.0.2')], 'h1');
  const edge = await rawEdge(url, ok);
  await until('the table on connect', () => edge.frames.length >= 1);
  t.equal(edge.frames.length, 1, 'pushed on connect');
  t.same(Object.keys(edge.frames[0]).sort(), ['correlation', 'method', 'request'], 'a request frame of the shared envelope');
  t.match(edge.frames[0], { method: 'updateRouting', request: { reverseConfigs: [route('10.0.0.2')] }, correlation: { id: /.+/, phase: 'request' } });
  hub.publish([route('10.0.0.2')], 'h1');
  hub.publish([route('10.0.0.2')], 'h1');
  hub.publish([route('10.0.0.3')], 'h2');
  // Frames arrive in order: had the unchanged table been pushed again, it would come before h2.
  await until('the changed table', () => edge.frames.length >= 2);
  t.same(edge.frames[1].request.reverseConfigs, [route('10.0.0.3')], 'an unchanged table is not pushed again; a changed one is');
  t.not(edge.frames[1].correlation.id, edge.frames[0].correlation.id);
  hub.publish([], 'h3');
  await until('the empty table', () => edge.frames.length >= 3);
  t.same(edge.frames[2]?.request, { reverseConfigs: [] }, 'an empty table is pushed too: route nothing');
});

t.test('an edge on the shared Peer gets the table on connect and after each change, never a duplicate', async (t) => {
  const { hub, url } = await serve(t);
  hub.publish([route('10.0.0.2')], 'h1');
  const edge = await TestEdgeClient.connect(url, TOKEN);
  t.teardown(() => edge.close());
  t.same((await edge.waitForTable(() => true, 0, 5000)).routes, [route('10.0.0.2')], 'on connect');
  for (let i = 0; i < 3; i++) hub.publish([route('10.0.0.2')], 'h1');
  hub.publish([route('10.0.0.3')], 'h2');
  t.same((await edge.waitForTable(() => true, 1, 5000)).routes, [route('10.0.0.3')], 'after a change');
  hub.publish([route('10.0.0.3')], 'h2');
  hub.publish([route('10.0.0.4')], 'h3');
  await edge.waitForTable(() => true, 2, 5000);
  t.same(edge.received.map((r) => r.routes[0]?.destinationIps[0]), ['10.0.0.2', '10.0.0.3', '10.0.0.4'], 'no duplicate push');
});

t.test('an edge that answers status error, an envelope error, a bad response or nothing gets the table again at the next publish', async (t) => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d) => lines.push(String(d)));
  const { hub, url } = await serve(t, { log: createLogger({ destination: sink, level: 'debug' }) });
  const failures = () => lines.filter((l) => l.includes('edge did not apply updateRouting')).length;
  const answers: (ReturnType<typeof ok> | { error: unknown } | { response: unknown } | undefined)[] = [
    { response: { status: 'error', errorText: 'disk full' } },
    { error: { text: 'edge is restarting', data: { code: 'EDGE_BUSY' } } },
    { response: { applied: true } },
    undefined, // no answer: the 500 ms response timeout of serve()
    ok(),
  ];
  let n = 0;
  const edge = await rawEdge(url, () => answers[n++]);
  hub.publish([route('10.0.0.2')], 'h1');
  for (let i = 1; i < answers.length; i++) {
    // The hub has taken in failure i (no answer: at its 500 ms response timeout).
    await until(`failure ${i}`, () => failures() >= i);
    hub.publish([route('10.0.0.2')], 'h1');
    await until(`the table again after failure ${i}`, () => edge.frames.length >= i + 1);
    t.equal(edge.frames.length, i + 1, `resent after failure ${i}`);
  }
  await until('the ok answer taken in', () => lines.some((l) => l.includes('edge applied the table')));
  hub.publish([route('10.0.0.2')], 'h1');
  hub.publish([route('10.0.0.3')], 'h2');
  await until('the next table', () => edge.frames.length > answers.length);
  t.same(edge.frames.map((f) => f.request.reverseConfigs[0].destinationIps[0]).slice(answers.length - 1), ['10.0.0.2', '10.0.0.3'], 'not resent after ok');
});

t.test('a table over the 1 MiB frame limit is not sent (logged without key material); the next one is', async (t) => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d) => lines.push(String(d)));
  const { hub, url } = await serve(t, { log: createLogger({ destination: sink, level: 'debug' }) });
  const edge = await TestEdgeClient.connect(url, TOKEN);
  t.teardown(() => edge.close());
  const key = `-----BEGIN PRIVATE KEY-----${'k'.repeat(MAX_FRAME_BYTES)}-----END PRIVATE KEY-----`;
  hub.publish([{ ...route('10.0.0.2'), privateKey: key }], 'huge');
  await until('the refusal logged', () => /COREFLOW_ERR_PROTOCOL_FRAME/.test(lines.join('')));
  t.notMatch(lines.join(''), /kkkkkkkk/, 'the reason is logged, the key is not');
  t.equal(hub.connections, 1, 'the edge stays connected');
  hub.publish([route('10.0.0.3')], 'small');
  t.same((await edge.waitForTable(() => true, 0, 5000)).routes, [route('10.0.0.3')]);
  t.equal(edge.received.length, 1, 'the huge table was never sent: the small one is the first');
});

t.test('edges only answer: a request from an edge and garbage frames get error envelopes', async (t) => {
  const { url } = await serve(t);
  const edge = await rawEdge(url, ok);
  edge.ws.send(JSON.stringify({ method: 'getClusterConfig', request: {}, correlation: { id: 'x1', phase: 'request' } }));
  await until('the first answer', () => edge.frames.length >= 1);
  edge.ws.send('not json');
  await until('the second answer', () => edge.frames.length >= 2);
  t.match(edge.frames, [
    { method: 'getClusterConfig', correlation: { id: 'x1', phase: 'response' }, error: { data: { code: 'COREFLOW_ERR_UNKNOWN_METHOD' } } },
    { method: 'invalid', correlation: { phase: 'response' }, error: { text: /not JSON/, data: { code: 'COREFLOW_ERR_PROTOCOL_FRAME' } } },
  ]);
  t.equal(edge.frames.length, 2);
});

t.test('a frame over 1 MiB closes the connection with 1009', async (t) => {
  const { hub, url } = await serve(t);
  const edge = await rawEdge(url, ok);
  const closed = new Promise<number>((r) => edge.ws.once('close', (code) => r(code)));
  edge.ws.send('x'.repeat(MAX_FRAME_BYTES + 1));
  t.equal(await closed, 1009);
  await until('the hub to drop the edge', () => hub.connections === 0);
  t.equal(hub.connections, 0);
});

t.test('keepalive: an edge that stops answering pings is dropped within two intervals', async (t) => {
  const { hub, url } = await serve(t, { pingIntervalMs: 100 });
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` }, autoPong: false });
  await new Promise((r) => ws.once('open', r));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  t.equal(hub.connections, 1);
  t.equal(await closed, 1006, 'terminated, no close handshake');
  await until('the hub to drop the edge', () => hub.connections === 0);
  t.equal(hub.connections, 0);
});

t.test('closeAll disconnects every edge (the edge sink was turned off)', async (t) => {
  const { hub, url } = await serve(t);
  const edge = await rawEdge(url, ok);
  const closed = new Promise<number>((r) => edge.ws.once('close', (code) => r(code)));
  hub.closeAll('routing.edge.enabled is false');
  t.equal(await closed, 1000);
  await until('the hub to drop the edge', () => hub.connections === 0);
  t.equal(hub.connections, 0);
});
