import t from 'tap';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { z } from 'zod';
import { isCoreflowError } from '../../ts/errors.ts';
import { createLogger, silentLogger } from '../../ts/observe/logger.ts';
import { MAX_FRAME_BYTES } from '../../ts/protocol/envelope.ts';
import { methods } from '../../ts/protocol/methods.ts';
import { Peer, remoteCode } from '../../ts/protocol/peer.ts';

const table = {
  ...methods,
  echo: { request: z.strictObject({ text: z.string() }), response: z.strictObject({ text: z.string() }) },
  slow: { request: z.strictObject({}), response: z.strictObject({}), timeoutMs: 200 },
  big: { request: z.strictObject({ size: z.number() }), response: z.strictObject({ text: z.string() }) },
  nest: { request: z.strictObject({ depth: z.number() }), response: z.record(z.string(), z.unknown()) },
};

/** `{"a":{"a":...}}`, `depth` levels deep: JSON.parse takes it, JSON.stringify overflows the stack. */
function nested(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let at = root;
  for (let i = 0; i < depth; i++) at = (at.a = {}) as Record<string, unknown>;
  return root;
}

/** A real ws server on port 0 with a serving peer, and a raw client socket. */
async function pair(t: { teardown: (fn: () => void) => void }, log = silentLogger()) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: MAX_FRAME_BYTES });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const servers: Peer<typeof table>[] = [];
  wss.on('connection', (ws) => {
    const peer = new Peer(ws, { methods: table, log });
    peer.handle('echo', (req) => ({ text: req.text }));
    peer.handle('slow', () => new Promise(() => undefined));
    peer.handle('big', (req) => ({ text: 'x'.repeat(req.size) }));
    peer.handle('nest', (req) => nested(req.depth));
    peer.handle('getCertificateForDomain', (req) => {
      throw new Error(`nothing for ${req.domain}`);
    });
    servers.push(peer);
  });
  const connectClient = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: MAX_FRAME_BYTES });
    await once(ws, 'open');
    return { ws, peer: new Peer(ws, { methods: table, log: silentLogger() }) };
  };
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  return { connectClient, servers };
}

/** Sends a raw frame and waits for the next frame back (parsed). */
async function rawExchange(ws: WebSocket, frame: string | Buffer, binary = false): Promise<Record<string, unknown>> {
  const next = once(ws, 'message');
  ws.send(frame, { binary });
  const [data] = (await next) as [Buffer];
  return JSON.parse(data.toString('utf8')) as Record<string, unknown>;
}

t.test('requests are answered by id, in both directions, with validated payloads', async (t) => {
  const { connectClient, servers } = await pair(t);
  const { peer } = await connectClient();
  const answers = await Promise.all([peer.request('echo', { text: 'a' }), peer.request('echo', { text: 'b' })]);
  t.same(answers, [{ text: 'a' }, { text: 'b' }]);
  // The server side calls the client the same way.
  peer.handle('pushClusterConfig', () => ({ accepted: false as const, errors: ['services[0].name: required'] }));
  const pushed = await servers[0]!.request('pushClusterConfig', { spec: { apiVersion: 'coreflow/v1' } });
  t.same(pushed, { accepted: false, errors: ['services[0].name: required'] });
  // A request payload that does not match its schema fails locally, naming the field.
  await t.rejects(peer.request('echo', { text: 5 } as never), /echo request\.text/);
});

t.test('errors: unknown method, handler failure, timeout, closed connection', async (t) => {
  const { connectClient } = await pair(t);
  const { ws, peer } = await connectClient();
  const unknown = await peer.request('reportStatus', { reason: 'run', run: { runId: 'r', trigger: 't', status: 'succeeded', specHash: 'h', startedAt: 'x', finishedAt: 'y', durationMs: 1, summary: { creates: 0, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 } }, services: [], status: { generatedAt: 'z', overall: { sync: 'Synced', health: 'Healthy', operation: 'Idle' }, objects: [] } }).catch((e: unknown) => e);
  t.equal(remoteCode(unknown), 'COREFLOW_ERR_UNKNOWN_METHOD', 'a method the peer does not serve gets a clear error reply');
  t.match(String(unknown), /unknown method "reportStatus"/);
  const failed = await peer.request('getCertificateForDomain', { domain: 'a.example.com' }).catch((e: unknown) => e);
  t.match(String(failed), /getCertificateForDomain failed on the peer: nothing for a\.example\.com/);
  const slow = await peer.request('slow', {}).catch((e: unknown) => e);
  t.ok(isCoreflowError(slow, 'COREFLOW_ERR_REQUEST_TIMEOUT'), 'no answer within the timeout fails the call');
  const pending = peer.request('slow', {}, 10_000);
  ws.close();
  const closed = await pending.catch((e: unknown) => e);
  t.ok(isCoreflowError(closed, 'COREFLOW_ERR_PEER_CLOSED'), 'a pending call fails when the connection closes');
});

t.test('malformed frames get an error reply and the connection keeps serving', async (t) => {
  const { connectClient } = await pair(t);
  const { ws, peer } = await connectClient();
  const notJson = await rawExchange(ws, '{nope');
  t.match(notJson, { correlation: { phase: 'response' }, error: { text: /not JSON/, data: { code: 'COREFLOW_ERR_PROTOCOL_FRAME' } } });
  const notEnvelope = await rawExchange(ws, JSON.stringify({ method: 'echo', hello: 1 }));
  t.match(notEnvelope, { error: { text: /not a protocol envelope: request: required; correlation: required; hello: unknown key/ } });
  const binary = await rawExchange(ws, Buffer.from([1, 2, 3]), true);
  t.match(binary, { error: { text: /binary frames are not accepted/ } });
  const badPayload = await rawExchange(ws, JSON.stringify({ method: 'echo', request: { text: 1 }, correlation: { id: 'c1', phase: 'request' } }));
  t.match(badPayload, { method: 'echo', correlation: { id: 'c1', phase: 'response' }, error: { text: /echo request\.text/ } });
  t.same(await peer.request('echo', { text: 'still here' }), { text: 'still here' });
});

t.test('oversized frames close that connection (1009) without crashing the server', async (t) => {
  const { connectClient } = await pair(t);
  const { ws, peer } = await connectClient();
  // Our own peer refuses to send a frame over the limit.
  await t.rejects(peer.request('echo', { text: 'x'.repeat(MAX_FRAME_BYTES) }), /exceeds the limit of 1048576 bytes/);
  // A raw oversized frame is refused by the receiver with 1009.
  const closed = once(ws, 'close');
  ws.send('x'.repeat(MAX_FRAME_BYTES + 10));
  const [code] = (await closed) as [number];
  t.equal(code, 1009, 'closed as message too big');
  // A response over the limit becomes an error reply instead.
  const second = await connectClient();
  const tooBig = await second.peer.request('big', { size: MAX_FRAME_BYTES + 1 }).catch((e: unknown) => e);
  t.match(String(tooBig), /exceeds the limit/);
  t.same(await second.peer.request('echo', { text: 'ok' }), { text: 'ok' }, 'the server still serves');
});

t.test('a peer that keeps sending garbage is closed with 1008', async (t) => {
  const { connectClient } = await pair(t);
  const { ws } = await connectClient();
  ws.on('message', () => undefined);
  const closed = once(ws, 'close');
  for (let i = 0; i < 25; i++) ws.send(`garbage ${i}`);
  t.equal((await closed)[0], 1008);
  const again = await connectClient();
  t.same(await again.peer.request('echo', { text: 'fine' }), { text: 'fine' }, 'others are still served');
});


t.test('every request is answered: 10,000 levels of nesting in a request or an answer get an error reply, logged', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => lines.push(...String(c).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)));
  const { connectClient } = await pair(t, createLogger({ level: 'debug', destination: sink }));
  const { ws, peer } = await connectClient();
  const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
  const frame = (method: string, id: string) => `{"method":"${method}","request":${deep},"correlation":{"id":"${id}","phase":"request"}}`;
  for (const [method, code] of [['echo', 'COREFLOW_ERR_PROTOCOL_FRAME'], ['noSuchMethod', 'COREFLOW_ERR_UNKNOWN_METHOD'], ['big', 'COREFLOW_ERR_PROTOCOL_FRAME']] as const) {
    const answer = await rawExchange(ws, frame(method, `deep-${method}`));
    t.match(answer, { method, request: null, correlation: { id: `deep-${method}`, phase: 'response' }, error: { data: { code } } }, `${method}: an error reply`);
  }
  const unbuildable = await peer.request('nest', { depth: 10_000 }).catch((e: unknown) => e);
  t.equal(remoteCode(unbuildable), 'COREFLOW_ERR_PROTOCOL_FRAME', 'an answer that cannot be serialised becomes an error reply');
  t.match(String(unbuildable), /the answer to nest could not be built: Maximum call stack size exceeded/);
  t.ok(lines.some((l) => l.msg === 'could not send the answer; answering with an error' && l.method === 'nest' && l.level === 50), 'the failure is logged');
  t.same(await peer.request('echo', { text: 'still here' }), { text: 'still here' });
});

t.test('no reply echoes the request: a wrong token is not sent back', async (t) => {
  const { connectClient, servers } = await pair(t);
  const { ws } = await connectClient();
  servers[0]!.handle('getIdentityByToken', () => {
    throw new Error('the token does not match');
  });
  const secret = 'wrong-token-that-must-not-come-back';
  const answer = await rawExchange(ws, JSON.stringify({ method: 'getIdentityByToken', request: { token: secret, protocolVersion: 1 }, correlation: { id: 'c9', phase: 'request' } }));
  t.match(answer, { method: 'getIdentityByToken', request: null, correlation: { id: 'c9' }, error: { text: /does not match/ } });
  t.notMatch(JSON.stringify(answer), secret);
  const ok = await rawExchange(ws, JSON.stringify({ method: 'echo', request: { text: secret }, correlation: { id: 'c10', phase: 'request' } }));
  t.same(ok, { method: 'echo', request: null, response: { text: secret }, correlation: { id: 'c10', phase: 'response' } }, 'a success answer does not echo the request either');
});
