import t from 'tap';
import { WebSocket } from 'ws';
import { silentLogger } from '../../ts/observe/logger.ts';
import { EDGE_PATH, EdgeHub } from '../../ts/routing/edge-hub.ts';
import type { RouteEntry } from '../../ts/routing/types.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';
import { upgradeStatus } from '../helpers/routing.ts';

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

/** A raw edge: records frames and answers updateRouting with `answer`. */
async function rawEdge(url: string, answer: () => unknown) {
  const frames: any[] = [];
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  ws.on('message', (d) => {
    const env = JSON.parse(String(d));
    frames.push(env);
    if (env.correlation.phase === 'request') ws.send(JSON.stringify({ method: env.method, request: null, response: answer(), correlation: { id: env.correlation.id, phase: 'response' } }));
  });
  await new Promise((r) => ws.once('open', r));
  return { ws, frames };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

t.test('tokens: wrong, missing and unset are refused with 401; a disabled sink answers 404', async (t) => {
  const { url } = await serve(t);
  t.equal(await upgradeStatus(url, 'nope-nope-nope-nope-nope'), 401);
  t.equal(await upgradeStatus(url, ''), 401);
  t.equal(await upgradeStatus(url, TOKEN), 101);
  const unset = await serve(t, { token: undefined });
  t.equal(await upgradeStatus(unset.url, TOKEN), 401, 'no COREFLOW_EDGE_TOKEN: nobody gets in');
  const off = await serve(t, { enabled: () => false });
  t.equal(await upgradeStatus(off.url, TOKEN), 404);
});

t.test('the table on connect, then only changes, in the documented envelope', async (t) => {
  const { hub, url } = await serve(t);
  hub.publish([route('10.0.0.2')], 'h1');
  const edge = await rawEdge(url, () => ({ status: 'ok' }));
  await settle();
  t.equal(edge.frames.length, 1, 'pushed on connect');
  t.match(edge.frames[0], { method: 'updateRouting', request: { reverseConfigs: [route('10.0.0.2')] }, response: null, correlation: { id: /.+/, phase: 'request' } });
  hub.publish([route('10.0.0.2')], 'h1');
  hub.publish([route('10.0.0.2')], 'h1');
  await settle();
  t.equal(edge.frames.length, 1, 'an unchanged table is not pushed again');
  hub.publish([route('10.0.0.3')], 'h2');
  await settle();
  t.equal(edge.frames.length, 2);
  t.same(edge.frames[1].request.reverseConfigs, [route('10.0.0.3')]);
  t.not(edge.frames[1].correlation.id, edge.frames[0].correlation.id);
});

t.test('an edge that answers error gets the same table again at the next publish', async (t) => {
  const { hub, url } = await serve(t);
  let answer: unknown = { status: 'error', errorText: 'disk full' };
  const edge = await rawEdge(url, () => answer);
  hub.publish([route('10.0.0.2')], 'h1');
  await settle();
  answer = { status: 'ok' };
  hub.publish([route('10.0.0.2')], 'h1');
  await settle();
  t.equal(edge.frames.length, 2, 'resent after an error');
  hub.publish([route('10.0.0.2')], 'h1');
  await settle();
  t.equal(edge.frames.length, 2, 'not resent after ok');
});

t.test('an edge calling a method gets an error envelope', async (t) => {
  const { url } = await serve(t);
  const edge = await rawEdge(url, () => ({ status: 'ok' }));
  edge.ws.send(JSON.stringify({ method: 'getClusterConfig', request: {}, response: null, correlation: { id: 'x1', phase: 'request' } }));
  edge.ws.send('not json');
  await settle();
  t.match(edge.frames, [{ method: 'getClusterConfig', correlation: { id: 'x1', phase: 'response' }, error: { code: 'COREFLOW_ERR_EDGE_METHOD' } }]);
});

t.test('closeAll disconnects every edge (the edge sink was turned off)', async (t) => {
  const { hub, url } = await serve(t);
  const edge = await rawEdge(url, () => ({ status: 'ok' }));
  const closed = new Promise<number>((r) => edge.ws.once('close', (code) => r(code)));
  hub.closeAll('routing.edge.enabled is false');
  t.equal(await closed, 1000);
  await settle();
  t.equal(hub.connections, 0);
});
