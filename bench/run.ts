/**
 * `npm run bench`: what start-up, scale and memory cost, measured as an operator would (whole
 * processes of the built CLI, not asserted in tests), against the local swarm:
 *   - `coreflow plan` on a 1-service spec: wall time (median of 5) and peak memory (max RSS);
 *   - `coreflow apply` vs `docker stack deploy --detach=true --resolve-image never` of the same N
 *     services (default 500, 0 replicas): creating them from nothing, then a no-op; medians of
 *     rounds (default 3) in which the two take turns going first;
 *   - one in-process no-op run at N services: Docker API calls and writes;
 *   - the engine alone: the same N creates from a bare HTTP client (what no client can go under);
 *   - `coreflow agent` after converging M services (default 1,000): resident memory and its peak;
 *   - the agent image: its size, and from `docker start` to 200 on /readyz (a spec with no services).
 * Usage: npm run bench [-- --services 500 --rounds 3 --agent-services 1000 --no-image]. Removes everything it
 * creates (services, networks, the stack, the container and the image tag).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs, promisify } from 'node:util';
import { stringify } from 'yaml';
import { LABEL_CLUSTER } from '../ts/docker/labels.ts';
import { buildAgentImage } from '../test/helpers/image.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc } from '../test/helpers/swarm.ts';
import { median } from './stats.ts';

const exec = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: { services: { type: 'string', default: '500' }, rounds: { type: 'string', default: '3' }, 'agent-services': { type: 'string', default: '1000' }, 'no-image': { type: 'boolean', default: false } },
});
const n = Number(values.services);
const rounds = Number(values.rounds);
const agentN = Number(values['agent-services']);
const { docker, calls } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-bench-'));
await chmod(dir, 0o755);
const rows: string[] = [];
const print = (line: string) => {
  rows.push(line);
  process.stderr.write(`${line}\n`);
};
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

function docWith(count: number, prefix: string) {
  const doc = testDoc(prefix);
  doc.services = Array.from({ length: count }, (_, i) => ({
    name: `${doc.cluster.name}-s${i}`,
    image: TEST_IMAGE,
    command: ['sleep', '3600'],
    scaleFactor: 0,
    environment: { INDEX: String(i) },
  }));
  return doc;
}

async function specFile(doc: unknown, name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(doc), { mode: 0o644 });
  return file;
}

/** Runs a whole process under GNU time: wall ms (measured here) and max RSS in KB. */
async function timed(cmd: string, args: string[]): Promise<{ ms: number; maxRssKb: number; code: number }> {
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', cmd, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  const ms = performance.now() - t0;
  const maxRssKb = Number(err.trim().split('\n').at(-1));
  if (code !== 0 && code !== 2) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-800)}`);
  return { ms, maxRssKb, code };
}
const coreflow = (args: string[]) => timed(process.execPath, ['bin/coreflow.js', ...args]);

if (!existsSync('/usr/bin/time')) throw new Error('the bench needs GNU time (/usr/bin/time; Debian package "time")');

// 1. plan start-up on one service.
{
  const doc = docWith(1, 'benchplan');
  const file = await specFile(doc, 'plan1.json');
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await coreflow(['plan', '--spec', file]));
  print(`coreflow plan, 1 service: ${sec(median(runs.map((r) => r.ms)))} wall (median of 5), ${mib(Math.max(...runs.map((r) => r.maxRssKb)))} peak memory`);
  const bare = await timed(process.execPath, ['-e', '0']);
  print(`  for scale: bare node ${sec(bare.ms)}, ${mib(bare.maxRssKb)}`);
}

// 2. N services: coreflow apply vs docker stack deploy, whole processes, create then no-op, in
// rounds; which of the two goes first alternates, so neither always meets the engine fresh.
{
  const doc = docWith(n, `bench${n}`);
  const file = await specFile(doc, `apply${n}.json`);
  const stack = `cfbench${process.pid}`;
  const compose = {
    version: '3.8',
    services: Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`s${i}`, { image: TEST_IMAGE, command: ['sleep', '3600'], environment: { INDEX: String(i) }, deploy: { replicas: 0 } }]),
    ),
  };
  const stackFile = join(dir, 'stack.yml');
  await writeFile(stackFile, stringify(compose));
  const deploy = () => timed('docker', ['stack', 'deploy', '--detach=true', '--resolve-image', 'never', '-c', stackFile, stack]);
  const removeStack = async () => {
    await exec('docker', ['stack', 'rm', stack]).catch(() => undefined);
    for (let i = 0; i < 40 && (await docker.listNetworks({ filters: { label: [`com.docker.stack.namespace=${stack}`] } })).length > 0; i++) await new Promise((r) => setTimeout(r, 250));
  };
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const seen = { cfCreate: [] as number[], dkCreate: [] as number[], cfNoop: [] as number[], dkNoop: [] as number[], cfNoopKb: 0 };
  try {
    for (let round = 0; round < rounds; round++) {
      const both = [
        async () => {
          seen.cfCreate.push((await coreflow(['apply', '--spec', file])).ms);
          const noop = await coreflow(['apply', '--spec', file]);
          seen.cfNoop.push(noop.ms);
          seen.cfNoopKb = Math.max(seen.cfNoopKb, noop.maxRssKb);
        },
        async () => {
          seen.dkCreate.push((await deploy()).ms);
          seen.dkNoop.push((await deploy()).ms);
        },
      ];
      for (const measure of round % 2 === 0 ? both : both.reverse()) await measure();
      const last = (xs: number[]) => sec(xs.at(-1)!);
      process.stderr.write(`round ${round + 1} of ${rounds} (${round % 2 === 0 ? 'coreflow' : 'docker'} first): create ${last(seen.cfCreate)} vs ${last(seen.dkCreate)}, no-op ${last(seen.cfNoop)} vs ${last(seen.dkNoop)}\n`);
      if (round < rounds - 1) await Promise.all([cleanupCluster(docker, doc.cluster.name), removeStack()]);
    }
    const [cfCreate, dkCreate, cfNoop, dkNoop] = [seen.cfCreate, seen.dkCreate, seen.cfNoop, seen.dkNoop].map(median) as [number, number, number, number];
    print(`create ${n} services (median of ${rounds}): coreflow apply ${sec(cfCreate)}, docker stack deploy ${sec(dkCreate)} (${ratio(cfCreate, dkCreate)})`);
    print(`no-op at ${n} services (median of ${rounds}): coreflow apply ${sec(cfNoop)}, docker stack deploy ${sec(dkNoop)} (${ratio(cfNoop, dkNoop)}); coreflow apply peak memory ${mib(seen.cfNoopKb)}`);
    calls.reset();
    const t0 = performance.now();
    const result = await runOnce(docker, doc);
    print(`  in-process no-op run at ${n}: ${calls.total()} Docker API calls, ${calls.writes()} writes, ${result.summary.unchanged} unchanged, ${sec(performance.now() - t0)}`);
    // The floor of any client: coreflow's services removed and their specs created again, bare.
    const owned = await docker.listServices({ filters: { label: [`${LABEL_CLUSTER}=${doc.cluster.name}`] } });
    for (const s of owned) await docker.getService(s.ID).remove();
    const floor = await engineCreates(owned.map((s) => s.Spec));
    print(`  the engine alone: the same ${owned.length} creates from a bare HTTP client, 8 in flight, ${sec(floor)} (coreflow apply ${sec(cfCreate - floor)} more, docker stack deploy ${sec(dkCreate - floor)} more)`);
  } finally {
    await cleanupCluster(docker, doc.cluster.name);
    await removeStack();
  }
}

/**
 * What the engine alone needs for these creates: POST /services/create of each spec from a bare
 * HTTP client on the socket, `inFlight` at a time (no Docker client library, no process start).
 */
async function engineCreates(specs: unknown[], inFlight = 8): Promise<number> {
  const socketPath = process.env.DOCKER_HOST?.replace(/^unix:\/\//, '') || '/var/run/docker.sock';
  const create = (spec: unknown) =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify(spec);
      const req = request({ socketPath, method: 'POST', path: '/v1.41/services/create', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`create: ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < specs.length) await create(specs[next++]);
  }));
  return performance.now() - t0;
}

/** Resolves with the agent's first log line matching `pred`. */
function waitForLog(lines: AsyncIterable<string>, pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return (async () => {
    for await (const line of lines) {
      const l = JSON.parse(line) as Record<string, unknown>;
      if (pred(l)) return l;
    }
    throw new Error('the agent exited');
  })();
}

/** VmRSS and VmHWM (peak) of a process, in KB. */
async function rss(pid: number): Promise<{ rssKb: number; peakKb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1]);
  return { rssKb: kb('VmRSS'), peakKb: kb('VmHWM') };
}

/** Starts `coreflow agent` with these node flags on M services; its memory after the first run and 15 s later. */
async function agentMemory(nodeFlags: string[]): Promise<string> {
  const doc = docWith(agentN, 'benchagent');
  const file = await specFile(doc, `agent${agentN}.json`);
  const state = join(dir, `agent-state-${doc.cluster.name}`);
  const args = [...nodeFlags, 'bin/coreflow.js', 'agent', '--spec', file, '--port', '0', '--host', '127.0.0.1', '--state-dir', state];
  const agent = spawn(process.execPath, args, { cwd: root, env: { ...process.env, COREFLOW_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = createInterface({ input: agent.stderr! });
  try {
    const t0 = performance.now();
    const first = await waitForLog(lines, (l) => l.msg === 'run finished');
    const converged = performance.now() - t0;
    const after = await rss(agent.pid!);
    // The background controllers (task health every 5 s) keep running; what is resident then.
    await new Promise((r) => setTimeout(r, 15_000));
    const later = await rss(agent.pid!);
    return (
      `agent after converging ${agentN} services (${(first.summary as { creates: number }).creates} created in ${sec(converged)}; node ${nodeFlags.join(' ') || 'defaults'}): ` +
      `${mib(after.rssKb)} resident, ${mib(later.rssKb)} 15 s later, ${mib(later.peakKb)} peak`
    );
  } finally {
    agent.kill('SIGTERM');
    await once(agent, 'exit');
    await cleanupCluster(docker, doc.cluster.name);
  }
}

// 3. Agent memory after converging M services: as the image and `npm start` run it, and with V8's defaults.
print(await agentMemory(['--max-semi-space-size=1', '--optimize-for-size']));
print(`  ${await agentMemory([])}`);

// 4. The image: size, and start to /readyz.
if (!values['no-image']) {
  const image = `coreflow-bench:${process.pid}`;
  await buildAgentImage(image);
  const doc = testDoc('benchimage');
  const file = await specFile(doc, 'image.json');
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const sock = '/var/run/docker.sock';
  const { gid } = statSync(sock);
  const container = `coreflow-bench-${process.pid}`;
  try {
    const size = Number((await exec('docker', ['image', 'inspect', '-f', '{{.Size}}', image])).stdout.trim());
    await exec('docker', ['create', '--name', container, '--network', 'host', '-v', `${sock}:${sock}`, '--group-add', String(gid), '-v', `${file}:/spec.json:ro`,
      '-e', `COREFLOW_PORT=${port}`, '-e', 'COREFLOW_HOST=127.0.0.1', image, 'agent', '--spec', '/spec.json']);
    const t0 = performance.now();
    await exec('docker', ['start', container]);
    let ready = 0;
    while (performance.now() - t0 < 30_000) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) {
        ready = performance.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    print(`agent image: ${(size / 1e6).toFixed(0)} MB; docker start to 200 on /readyz: ${ready ? sec(ready) : 'not within 30 s'} (spec with no services)`);
  } finally {
    await exec('docker', ['rm', '-f', '-v', container]).catch(() => undefined);
    await exec('docker', ['image', 'rm', image]).catch(() => undefined);
    await cleanupCluster(docker, doc.cluster.name);
  }
}

await rm(dir, { recursive: true, force: true });
process.stdout.write(`\n${rows.join('\n')}\n`);
process.exit(0);
