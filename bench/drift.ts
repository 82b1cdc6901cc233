/**
 * Measures drift healing and the cost of the background controllers (not asserted in tests):
 *   - time from `docker service rm` of an owned service to the service being back (drift
 *     controller: Docker event -> chain run -> create), several rounds;
 *   - Docker API calls of one task-health run and of one garbage run at N services.
 * Usage: node --import=tsx bench/drift.ts [--services 50 --rounds 5]. Cleans up after itself.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { Agent } from '../ts/agent.ts';
import { loadConfig } from '../ts/config/config.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { services: { type: 'string', default: '50' }, rounds: { type: 'string', default: '5' } } });
const n = Number(values.services);
const rounds = Number(values.rounds);
const { docker } = await connect();
const doc = testDoc('benchdrift');
doc.services = Array.from({ length: n }, (_, i) => ({ name: `${doc.cluster.name}-s${i}`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 }));
const dir = await mkdtemp(join(tmpdir(), 'cf-bench-drift-'));
await writeFile(join(dir, 'spec.yaml'), stringify(doc));
const config = await loadConfig({ spec: join(dir, 'spec.yaml'), stateDir: join(dir, 'state'), port: '0', host: '127.0.0.1', resyncCron: '0 0 0 1 1 *', garbageGraceMs: '0' });
const agent = new Agent(config, silentLogger());
const rows: string[] = [];
try {
  await agent.start();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const name = `${doc.cluster.name}-s${r % n}`;
    const [s] = await docker.listServices({ filters: { name: [name] } });
    const t0 = performance.now();
    await docker.getService(s!.ID).remove();
    await waitFor('back', async () => (await docker.listServices({ filters: { name: [name] } })).some((x) => x.ID !== s!.ID && x.Spec?.Name === name), 30_000, 20);
    times.push(performance.now() - t0);
  }
  rows.push(`drift: removed service back after ${times.map((t) => `${t.toFixed(0)} ms`).join(', ')} (${n} services)`);
  const calls = agent.connection!.calls;
  for (const name of ['task-health', 'garbage']) {
    calls.reset();
    const before = agent.controllers.states().find((c) => c.name === name)!.runs;
    agent.controllers.kick(name);
    await waitFor('run', async () => agent.controllers.states().find((c) => c.name === name)!.runs > before, 30_000, 10);
    rows.push(`${name} run at ${n} services: ${calls.total()} API calls, ${calls.writes()} writes (${JSON.stringify(calls.snapshot())})`);
  }
} finally {
  await agent.stop();
  await cleanupCluster(docker, doc.cluster.name);
  await rm(dir, { recursive: true, force: true });
}
process.stdout.write(`${rows.join('\n')}\n`);
process.exit(0);
