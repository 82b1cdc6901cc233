/**
 * How fast an idle agent exits on SIGTERM (not asserted in tests; the target is 0.5 s): starts
 * `coreflow agent` on a small spec against the local swarm, waits until it is idle (first run done,
 * route table built, a few seconds on), sends SIGTERM and prints the time to "stopped" and to the
 * process exit, for --runs runs (default 3, at most 10). Cleans up after itself.
 * Usage: node --import=tsx bench/agent-stop.ts [--runs 3]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCoreflow } from '../test/helpers/controlplane-procs.ts';
import { cleanupCluster, connect, testDoc } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Math.min(10, Math.max(1, Number(values.runs)));
const { docker } = await connect();
const doc = testDoc('benchstop');
const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-stop-'));
await writeFile(join(dir, 'spec.json'), JSON.stringify(doc));

try {
  for (let i = 0; i < runs; i++) {
    const p = startCoreflow(['agent', '--spec', join(dir, 'spec.json'), '--host', '127.0.0.1', '--port', '0', '--state-dir', dir], { COREFLOW_LOG_LEVEL: 'info' });
    await p.waitForLog('the first run', (l) => l.msg === 'run finished');
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    const code = await p.stop('SIGTERM');
    const exited = Date.now() - t0;
    const stopped = Date.parse(String(p.logs.find((l) => l.msg === 'stopped')?.time)) - t0;
    console.log(`run ${i + 1}: SIGTERM -> "stopped" ${stopped} ms, -> exit ${exited} ms (exit code ${code})`);
  }
} finally {
  await cleanupCluster(docker, doc.cluster.name);
  await rm(dir, { recursive: true, force: true });
}
