/**
 * Measures what the design promises about cost (not asserted in tests):
 *   - a no-op reconcile at 10, 100 and 500 services: Docker API calls, writes, wall time;
 *   - converging 50 services from nothing, beside `docker stack deploy` of the same services.
 * Services have 0 replicas, so the numbers are coreflow's and the manager's, not the scheduler's.
 * Usage: npm run bench [-- --sizes 10,100,500 --converge 50]. Prints a table; cleans up after itself.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { stringify } from 'yaml';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc } from '../test/helpers/swarm.ts';

const exec = promisify(execFile);
const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,100,500' }, converge: { type: 'string', default: '50' } } });
const sizes = values.sizes.split(',').map(Number);
const convergeN = Number(values.converge);
const { docker, calls } = await connect();

function docWith(n: number, prefix: string) {
  const doc = testDoc(prefix);
  doc.services = Array.from({ length: n }, (_, i) => ({
    name: `${doc.cluster.name}-s${i}`,
    image: TEST_IMAGE,
    command: ['sleep', '3600'],
    scaleFactor: 0,
    environment: { INDEX: String(i) },
  }));
  return doc;
}

const rows: string[] = [];
const ms = (t0: number) => `${(performance.now() - t0).toFixed(0)} ms`;

for (const n of sizes) {
  const doc = docWith(n, `bench${n}`);
  try {
    const t0 = performance.now();
    await runOnce(docker, doc);
    const createTime = ms(t0);
    calls.reset();
    const t1 = performance.now();
    const result = await runOnce(docker, doc);
    rows.push(
      `no-op reconcile, ${String(n).padStart(3)} services: ${calls.total()} API calls, ${calls.writes()} writes, ${ms(t1)} ` +
        `(${result.summary.unchanged} unchanged; first converge took ${createTime}) calls=${JSON.stringify(calls.snapshot())}`,
    );
  } finally {
    await cleanupCluster(docker, doc.cluster.name);
  }
}

{
  const doc = docWith(convergeN, 'benchconv');
  try {
    calls.reset();
    const t0 = performance.now();
    const result = await runOnce(docker, doc);
    rows.push(`coreflow converge ${convergeN} services from nothing: ${ms(t0)}, ${calls.total()} API calls (${result.summary.creates} created)`);
  } finally {
    await cleanupCluster(docker, doc.cluster.name);
  }
  const stack = `cfbench${Date.now() % 100000}`;
  const dir = await mkdtemp(join(tmpdir(), 'cf-bench-'));
  const compose = {
    version: '3.8',
    services: Object.fromEntries(
      Array.from({ length: convergeN }, (_, i) => [
        `s${i}`,
        { image: TEST_IMAGE, command: ['sleep', '3600'], environment: { INDEX: String(i) }, deploy: { replicas: 0 } },
      ]),
    ),
  };
  await writeFile(join(dir, 'stack.yml'), stringify(compose));
  try {
    const t0 = performance.now();
    await exec('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', join(dir, 'stack.yml'), stack]);
    rows.push(`docker stack deploy of the same ${convergeN} services: ${ms(t0)}`);
    const versions = async () =>
      new Map((await docker.listServices({ filters: { label: [`com.docker.stack.namespace=${stack}`] } })).map((s) => [s.ID, s.Version?.Index]));
    const before = await versions();
    const t1 = performance.now();
    await exec('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', join(dir, 'stack.yml'), stack]);
    const took = ms(t1);
    const after = await versions();
    const rewritten = [...after].filter(([id, v]) => before.get(id) !== v).length;
    rows.push(`docker stack deploy again, nothing changed: ${took}, ${rewritten} of ${after.size} services written (version changed)`);
  } finally {
    await exec('docker', ['stack', 'rm', stack]).catch(() => undefined);
  }
}

process.stdout.write(`${rows.join('\n')}\n`);
process.exit(0);
