import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { boundPort, startCoreflow } from '../helpers/controlplane-procs.ts';

const REJECTED = 'spec rejected; the last good spec stays in force';

/** GET /healthz once over a kept-alive connection; resolves with the milliseconds it took. */
function healthz(port: number, agent: HttpAgent): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`/healthz answered ${res.statusCode}`))));
    }).on('error', reject);
  });
}

t.test('the agent answers /healthz within 100 ms while it rejects a 10 MB bad spec file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-file-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const spec = join(dir, 'spec.yaml');
  // Invalid from the start (no cluster): the agent has nothing to reconcile and creates nothing.
  await writeFile(spec, 'apiVersion: coreflow/v1\n');
  // Limits raised above the file's size, so the 10 MB really go through the parser and the schema.
  const sixteenMiB = String(16 * 1024 * 1024);
  const agent = startCoreflow(['agent', '--spec', spec, '--state-dir', join(dir, 'state'), '--host', '127.0.0.1', '--port', '0'], {
    COREFLOW_LOG_LEVEL: 'info',
    COREFLOW_SPEC_MAX_BYTES: sixteenMiB,
    COREFLOW_SPEC_MAX_VALUE_BYTES: sixteenMiB,
  });
  t.teardown(() => agent.stop());
  const port = await boundPort(agent, 'internal server listening');
  await agent.waitForLog('the first spec rejected', (l) => l.msg === REJECTED);
  // The first run comes after the file source started watching.
  await agent.waitForLog('the first run', (l) => l.msg === 'no desired state yet; nothing to reconcile');

  // 10 MB of `x: xxxx...` (one multi-line plain scalar, which yaml takes over a second to read on
  // this machine), renamed in as editors save.
  const bad = join(dir, 'bad.tmp');
  await writeFile(bad, `x: ${'xxxxxxxxxx\n  '.repeat(Math.ceil((10 * 1024 * 1024) / 13))}\n`);

  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  await healthz(port, keepAlive);
  const latencies: number[] = [];
  let probing = true;
  // One request every 10 ms, each waiting for its answer: a health checker's pattern, not a flood.
  const probes = (async () => {
    while (probing) {
      latencies.push(await healthz(port, keepAlive));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  await rename(bad, spec);
  const rejected = await agent.waitForLog('the 10 MB file rejected', (l) => l.msg === REJECTED && JSON.stringify(l.errors).includes('x: unknown key'));
  probing = false;
  await probes;

  t.match(rejected.errors, ['apiVersion: expected "coreflow/v1"', 'cluster: required', 'x: unknown key'], 'the whole document was parsed and validated');
  const slowest = Math.max(...latencies);
  t.ok(latencies.length >= 10, `/healthz was asked ${latencies.length} times while the file was parsed`);
  t.ok(slowest < 100, `every /healthz answered within 100 ms (slowest ${slowest.toFixed(1)} ms)`);
  t.ok(agent.proc.exitCode === null, 'the agent still runs');
});
