/**
 * What hostile spec documents cost (not asserted in tests):
 *   - `coreflow plan` on 3,561 services whose labels nest 1,500 levels (32 MB): refused by size,
 *     then with the size limit raised, by depth; wall time and peak memory of the process;
 *   - an agent whose spec file is replaced by 10 MB of `x: xxxx...` (size and value limits raised,
 *     so it is parsed and validated in full): /healthz latency, paced every 10 ms, and the agent's
 *     own event-loop delay (prom-client's max over the window) while it parses and rejects it.
 * Real processes (`node bin/coreflow.js plan|agent`); the agent needs the local Docker Engine.
 * Usage: node --import=tsx bench/hostile-specs.ts. Cleans up after itself.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { badSpecText, SPEC_REJECTED, startFileAgent, startHealthProbe } from '../test/helpers/hostile-spec.ts';

const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-hostile-'));

/** Runs `coreflow plan` under /usr/bin/time; resolves with its exit code, wall ms, peak RSS and last stderr line. */
function plan(args: string[]): Promise<{ code: number; ms: number; peakMb: number; said: string }> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile('/usr/bin/time', ['-f', 'peak-rss-kb=%M', process.execPath, 'bin/coreflow.js', 'plan', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, _out, stderr) => {
      const lines = stderr.trim().split('\n');
      const peak = Number(/peak-rss-kb=(\d+)/.exec(stderr)?.[1] ?? 0);
      const said = lines.filter((l) => !l.startsWith('peak-rss-kb=') && !l.startsWith('Command exited')).at(-1) ?? '';
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, ms: performance.now() - start, peakMb: Math.round(peak / 1024), said: said.replace(/^.*?: /, '').slice(0, 150) });
    });
  });
}

const labels = '{"a":'.repeat(1500) + '"x"' + '}'.repeat(1500);
const nested = join(dir, 'nested.json');
await writeFile(nested, `{"apiVersion":"coreflow/v1","cluster":{"name":"c"},"services":[${Array.from({ length: 3561 }, (_, i) => `{"name":"s${i}","image":"x:1","labels":${labels}}`).join(',')}]}`);
for (const [what, extra] of [['default limits', []], ['size limit raised to 64 MiB', ['--spec-max-bytes', String(64 * 1024 * 1024)]]] as const) {
  const r = await plan(['--spec', nested, ...extra]);
  console.log(`plan, 3,561 services nested 1,500 deep (32 MB), ${what}: exit ${r.code} after ${Math.round(r.ms)} ms (CLI start included), peak RSS ${r.peakMb} MB: ${r.said}`);
}

const { agent, port, spec } = await startFileAgent(dir);
try {
  const keepAlive = new HttpAgent({ keepAlive: true });
  const metrics = () =>
    new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/metrics', agent: keepAlive }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
  const lagMaxMs = async () => Number(/^coreflow_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await metrics())?.[1] ?? NaN) * 1000;
  const bad = join(dir, 'bad.tmp');
  await writeFile(bad, badSpecText());
  await lagMaxMs(); // resets the window
  const probe = await startHealthProbe(port);
  const start = performance.now();
  await rename(bad, spec);
  await agent.waitForLog('the 10 MB file rejected', (l) => l.msg === SPEC_REJECTED && JSON.stringify(l.errors).includes('x: unknown key'), 300_000);
  const window = performance.now() - start;
  const latencies = await probe.stop();
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!.toFixed(1);
  console.log(
    `agent, 10 MB bad spec file parsed and rejected in ${Math.round(window)} ms: /healthz ${latencies.length} answers, median ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms; event-loop delay max ${(await lagMaxMs()).toFixed(1)} ms`,
  );
  keepAlive.destroy();
} finally {
  await agent.stop();
  await rm(dir, { recursive: true, force: true });
}
