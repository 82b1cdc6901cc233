import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { ControlPlane } from '../../ts/controlplane/control-plane.ts';
import { createLogger } from '../../ts/observe/logger.ts';
import { testDoc } from '../helpers/swarm.ts';

const TOKEN = 'agent-hub-token-0123456789abcdef';

/** An in-process reference control plane on 127.0.0.1:0 whose log lines are kept. */
async function controlPlane(t: { teardown: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cf-hub-'));
  const specPath = join(dir, 'spec.yaml');
  await writeFile(specPath, stringify(testDoc('hub')));
  const lines: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => lines.push(...String(c).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)));
  const cp = new ControlPlane({ specPath, host: '127.0.0.1', port: 0, token: TOKEN, log: createLogger({ level: 'debug', destination: sink }), pingIntervalMs: 0 });
  await cp.start();
  t.teardown(() => cp.stop());
  return { cp, lines, url: `ws://127.0.0.1:${cp.port}/v1/agent`, text: () => lines.map((l) => JSON.stringify(l)).join('\n') };
}

async function rawAgent(url: string) {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Record<string, unknown>));
  const call = async (method: string, requestJson: string, id: string) => {
    ws.send(`{"method":"${method}","request":${requestJson},"correlation":{"id":"${id}","phase":"request"}}`);
    for (;;) {
      const hit = frames.find((f) => (f.correlation as { id: string }).id === id);
      if (hit) return hit;
      await once(ws, 'message');
    }
  };
  return { ws, call };
}

t.test('a wrong token: the reply does not echo it, the log line carries COREFLOW_ERR_AUTH, close 4001', async (t) => {
  const { url, lines, text } = await controlPlane(t);
  const { ws, call } = await rawAgent(url);
  const wrong = 'wrong-token-echo-check-0123456789';
  const closed = once(ws, 'close');
  const answer = await call('getIdentityByToken', JSON.stringify({ token: wrong, protocolVersion: 1 }), 'auth-1');
  t.match(answer, { method: 'getIdentityByToken', request: null, error: { data: { code: 'COREFLOW_ERR_AUTH' } } });
  t.notMatch(JSON.stringify(answer), wrong, 'the token is not sent back');
  t.equal((await closed)[0], 4001);
  const refusal = lines.find((l) => l.msg === 'agent presented a wrong token; closing');
  t.match(refusal, { level: 40, code: 'COREFLOW_ERR_AUTH' });
  t.notMatch(text(), wrong, 'nor logged');
});

t.test('a 10,000-level nested request gets an error reply; the control plane keeps serving', async (t) => {
  const { url } = await controlPlane(t);
  const { call } = await rawAgent(url);
  const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
  for (const method of ['getIdentityByToken', 'getClusterConfig', 'reportStatus']) {
    const answer = await call(method, deep, `deep-${method}`);
    t.match(answer, { method, request: null, error: { data: { code: String } } }, `${method}: an error reply`);
  }
  const who = await call('getIdentityByToken', JSON.stringify({ token: TOKEN, protocolVersion: 1 }), 'auth-ok');
  t.match(who, { response: { identity: { role: 'cluster' } } }, 'the same connection still authenticates');
});
