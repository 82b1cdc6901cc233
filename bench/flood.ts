/**
 * The reference control plane's memory under a flood of bad requests (not asserted in tests): runs
 * `coreflow controlplane` as a process on 127.0.0.1, sends it N bad requests (default 10,000; at
 * most 50,000) with bounded concurrency, and prints its RSS (from /proc) before, during (every
 * tenth of the flood) and after (once it has been idle a few seconds, then after a full garbage
 * collection, which tells garbage not yet collected from memory still held). Bad requests, in turn:
 * malformed JSON, an invalid service, a body over the 1 MiB limit, a wrong or missing token, an
 * unknown path, and WebSocket connections that send garbage frames or a wrong token.
 * Usage: node --import=tsx bench/flood.ts [--requests 10000] [--concurrency 16]. Stops by itself
 * (at the latest after 10 minutes) and removes what it made.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { boundPort, startCoreflow } from '../test/helpers/controlplane-procs.ts';
import { testDoc } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '16' } } });
const total = Math.min(50_000, Math.max(1, Number(values.requests)));
const concurrency = Math.min(64, Math.max(1, Number(values.concurrency)));
const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-flood-'));
const token = 'flood-bench-token-0123456789abcdef';
await writeFile(join(dir, 'spec.yaml'), stringify(testDoc('flood')));
await writeFile(join(dir, 'token'), token);
/**
 * Loaded into the control plane with --import: on SIGUSR2 it runs a full garbage collection and
 * logs the heap, so "after" tells garbage not yet collected from memory still held.
 */
const PROBE = `process.on('SIGUSR2', () => { globalThis.gc(); const m = process.memoryUsage(); process.stderr.write(JSON.stringify({ msg: 'heap after gc', heapUsedMiB: m.heapUsed / 1048576, rssMiB: m.rss / 1048576 }) + '\\n'); });`;
const cp = startCoreflow(['controlplane', '--spec', join(dir, 'spec.yaml'), '--addr', '127.0.0.1:0', '--token-file', join(dir, 'token')], {
  COREFLOW_LOG_LEVEL: 'info',
  NODE_OPTIONS: `--expose-gc --import=data:text/javascript,${encodeURIComponent(PROBE)}`,
});
const guard = setTimeout(() => {
  process.stderr.write('flood bench: 10 minutes passed; stopping\n');
  void cp.stop('SIGKILL').then(() => process.exit(1));
}, 600_000);

function rssMiB(): number {
  const status = readFileSync(`/proc/${cp.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function http(port: number, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function wsGarbage(port: number, frames: string[]): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/agent`);
  ws.on('error', () => undefined);
  try {
    await once(ws, 'open');
    for (const f of frames) ws.send(f);
    await once(ws, 'message');
  } catch {
    // refused or closed: still a bad request sent
  }
  ws.terminate();
  return 101;
}

const bigBody = Buffer.alloc(1024 * 1024 + 10, 'x');
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const kinds: ((port: number, i: number) => Promise<number>)[] = [
  (p) => http(p, 'PATCH', '/v1/services/update', auth, '{"service": {'),
  (p, i) => http(p, 'PATCH', '/v1/services/update', auth, JSON.stringify({ service: { name: `bad-${i}`, image: 5, ports: { web: 'x' } } })),
  (p) => http(p, 'PATCH', '/v1/services/update', auth, bigBody),
  (p) => http(p, 'GET', '/v1/services', { authorization: 'Bearer not-the-token-at-all' }),
  (p) => http(p, 'GET', '/v1/events', {}),
  (p, i) => http(p, 'GET', `/no/such/path/${i}`, {}),
  (p) => wsGarbage(p, ['{nope', '{"method":"x"}']),
  (p) => wsGarbage(p, [JSON.stringify({ method: 'getIdentityByToken', request: { token: 'wrong-token-wrong-token', protocolVersion: 1 }, correlation: { id: '1', phase: 'request' } })]),
];

try {
  const port = await boundPort(cp, 'control plane listening');
  await new Promise((r) => setTimeout(r, 2000));
  const before = rssMiB();
  console.log(`RSS before: ${before.toFixed(1)} MiB`);
  let next = 0;
  let done = 0;
  const step = Math.max(1, Math.floor(total / 10));
  const t0 = performance.now();
  const during: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        await kinds[i % kinds.length]!(port, i);
        if (++done % step === 0) {
          const rss = rssMiB();
          during.push(rss);
          console.log(`RSS during, ${done} bad requests: ${rss.toFixed(1)} MiB`);
        }
      }
    }),
  );
  console.log(`${total} bad requests in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Idle: sockets closed, auth deadlines (10 s) passed, the collector had time to run.
  await new Promise((r) => setTimeout(r, 12_000));
  const after = rssMiB();
  console.log(`RSS after 12 s idle: ${after.toFixed(1)} MiB (before ${before.toFixed(1)}, peak during ${Math.max(...during).toFixed(1)})`);
  cp.proc.kill('SIGUSR2');
  const heap = await cp.waitForLog('heap after gc', (l) => l.msg === 'heap after gc', 10_000);
  console.log(`after a full GC: heap used ${Number(heap.heapUsedMiB).toFixed(1)} MiB, RSS ${Number(heap.rssMiB).toFixed(1)} MiB`);
  const still = await http(port, 'GET', '/v1/services', { authorization: `Bearer ${token}` });
  console.log(`the control plane still serves: GET /v1/services -> ${still}`);
} finally {
  clearTimeout(guard);
  await cp.stop('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}
