import { mkdtemp } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import t from 'tap';
import { silentLogger } from '../../ts/observe/logger.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';

/** A Docker socket that accepts connections and never answers: a stalled Engine. */
async function stalledDockerSocket(t: { teardown: (fn: () => void) => void }): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'cf-stall-')), 'docker.sock');
  const held: Socket[] = [];
  const server = createServer((socket) => void held.push(socket));
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  return path;
}

t.test('/readyz answers 503 within its deadline while Docker stalls, naming the check', async (t) => {
  const docker = new Docker({ socketPath: await stalledDockerSocket(t) });
  const server = new InternalServer({ host: '127.0.0.1', port: 0, readyTimeoutMs: 300 }, silentLogger());
  // The agent's Docker check: a ping.
  server.addReadiness({ name: 'docker', check: async () => (await docker.ping(), true as const) });
  server.addReadiness({ name: 'desired-state', check: () => true });
  await server.start();
  t.teardown(() => server.stop());
  const res = await fetch(`http://127.0.0.1:${server.port}/readyz`, { signal: AbortSignal.timeout(10_000) });
  t.equal(res.status, 503);
  t.same(await res.json(), { status: 'not ready', failing: { docker: 'no answer within 300 ms' } });
  const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  t.equal(health.status, 200, '/healthz is not held up either');
});

t.test('/readyz: a failing check names its error; all passing is 200', async (t) => {
  let fail = true;
  const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
  server.addReadiness({ name: 'thing', check: () => (fail ? Promise.reject(new Error('thing is down')) : true) });
  await server.start();
  t.teardown(() => server.stop());
  const down = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  t.equal(down.status, 503);
  t.same(await down.json(), { status: 'not ready', failing: { thing: 'thing is down' } });
  fail = false;
  const up = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  t.equal(up.status, 200);
  t.same(await up.json(), { status: 'ready' });
});
