/**
 * `npx tsx bench/backup.ts [--mib 1024] [--job-image IMAGE] [--runs 3]`: a backup and a restore of
 * one volume of N MiB (default 1 GiB, 64 files of random data) through `coreflow agent` and
 * `coreflow backup`, beside plain `tar` on the same data on this machine (tar -c of the volume's
 * folder to a file; tar -x of that file into a new folder; each also followed by `sync`, since
 * coreflow's archive and restored data are on disk when it reports them done) and the Docker recipe
 * an operator would otherwise run (tar in a `docker run` container, streamed to a file and back),
 * with the agent's resident memory sampled every 100 ms (/proc/PID/status VmRSS) during each. Each
 * row is the median of the rounds. The jobs run the agent's image (what an agent running as a
 * Swarm service uses; built here when missing) or `--job-image IMAGE` (e.g. busybox). Needs
 * `npm run build` first. Removes what it creates.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { stringify } from 'yaml';
import { agentTestImage } from '../test/helpers/image.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../test/helpers/swarm.ts';
import { median } from './stats.ts';

const exec = promisify(execFile);
const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, 'job-image': { type: 'string' }, runs: { type: 'string', default: '3' } } });
const runs = Math.max(1, Number(values.runs));
const jobImage = values['job-image'] ?? (await agentTestImage());
const mib = Number(values.mib);
const files = Math.max(1, Math.round(mib / 16));
const bin = new URL('../bin/coreflow.js', import.meta.url).pathname;
const TOKEN = 'bench-admin-token-0123456789abcdef';
const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-bench-backup-'));
const doc = testDoc('bkbench') as Record<string, any>;
const service = `${doc.cluster.name}-data`;
const seed = `[ -e /data/.seeded ] || { for i in $(busybox seq 1 ${files}); do busybox head -c 16777216 /dev/urandom > /data/f$i; done; busybox touch /data/.seeded; }; exec sleep 1000000`;
doc.services = [{ name: service, image: TEST_IMAGE, command: ['sh', '-c', seed], volumes: [{ mountPath: '/data', driver: 'local', backup: true }], stopGracePeriod: '1s' }];
await writeFile(join(dir, 'cluster.yaml'), stringify(doc));

const agent = spawn(process.execPath, [bin, 'agent', '--spec', join(dir, 'cluster.yaml'), '--port', '0', '--host', '0.0.0.0', '--state-dir', dir], {
  env: { ...process.env, COREFLOW_API_TOKEN: TOKEN, COREFLOW_BACKUP_IMAGE: jobImage, COREFLOW_LOG_LEVEL: 'info' },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
agent.stderr.on('data', (c) => (stderr += String(c)));

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

interface Sample {
  s: number;
  peakMiB: number;
}

/**
 * Runs `work`, sampling the agent's RSS; returns seconds and the peak in MiB. Dirty pages of the
 * steps before are written out first, so no step pays for another's writeback.
 */
async function measured(work: () => Promise<void>): Promise<Sample> {
  await exec('sync');
  let peak = await rss(agent.pid!);
  const timer = setInterval(() => void rss(agent.pid!).then((r) => (peak = Math.max(peak, r))), 100);
  const t0 = process.hrtime.bigint();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, peakMiB: peak / 1048576 };
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, [bin, 'backup', ...args, '--agent', `127.0.0.1:${port}`], { env: { ...process.env, COREFLOW_API_TOKEN: TOKEN }, maxBuffer: 16 << 20 });
  return stdout;
}

let port = 0;
try {
  port = await waitFor('the agent', async () => Number(/"port":(\d+)[^\n]*internal server listening/.exec(stderr)?.[1] ?? 0) || undefined, 60_000);
  const volume = await waitFor(`${mib} MiB written`, async () => {
    const tasks = await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } });
    const c = tasks.find((x) => x.Status?.State === 'running')?.Status?.ContainerStatus?.ContainerID;
    if (!c) return undefined;
    await exec('docker', ['exec', c, 'busybox', 'test', '-e', '/data/.seeded']);
    const mount = ((await docker.getContainer(c).inspect()).Mounts as { Destination: string; Name?: string; Source: string }[]).find((m) => m.Destination === '/data')!;
    return mount;
  }, 600_000, 1000);
  const before = await rss(agent.pid!);
  process.stderr.write(`agent ${(before / 1048576).toFixed(0)} MiB resident before; volume ${volume.Name} (${mib} MiB in ${files} files); jobs run ${jobImage}\n`);

  // What an operator runs without coreflow: tar in a throwaway container, the stream through the
  // Docker CLI to a file and back (logging off: json-file would also store the stream as the log).
  const recipe = (mount: string, tar: string) => `docker run --rm -i --log-driver none -v ${mount} ${TEST_IMAGE} busybox tar -C /volume ${tar}`;
  const plain = join(dir, 'plain.tar');
  const dockerTar = join(dir, 'docker.tar');
  const rounds: Record<string, Sample>[] = [];
  let id = '';
  for (let round = 0; round < runs; round++) {
    const m: Record<string, Sample> = {};
    const out = join(dir, 'plain-out');
    m.tarC = await measured(async () => void (await exec('tar', ['-C', volume.Source, '-cf', plain, '.'])));
    m.tarCSync = await measured(async () => void (await exec('sh', ['-c', `tar -C ${volume.Source} -cf ${plain} . && sync`])));
    m.dockerC = await measured(async () => void (await exec('sh', ['-c', `${recipe(`${volume.Name}:/volume:ro`, '-cf - .')} > ${dockerTar}`])));
    m.backup = await measured(async () => {
      id = /backup (bk-\S+) of/.exec(await cli('create', service))![1]!;
    });
    // Not measured: the first write into space the filesystem has not used lately can take three
    // times as long (3.1 s against 1.0 s for this tar -x here), whichever row it falls on. After
    // this one, every row writes where the one before freed space.
    await exec('mkdir', ['-p', out]);
    await exec('tar', ['-C', out, '-xf', plain]);
    await rm(out, { recursive: true, force: true });
    for (const [key, then] of [['tarX', ''], ['tarXSync', ' && sync']] as const) {
      await exec('mkdir', ['-p', out]);
      m[key] = await measured(async () => void (await exec('sh', ['-c', `tar -C ${out} -xf ${plain}${then}`])));
      await rm(out, { recursive: true, force: true });
    }
    const scratch = `${doc.cluster.name}-docker-x`;
    m.dockerX = await measured(async () => void (await exec('sh', ['-c', `${recipe(`${scratch}:/volume`, '-xf -')} < ${dockerTar}`])));
    await docker.getVolume(scratch).remove().catch(() => undefined);
    const fresh = `${doc.cluster.name}-restored`;
    m.toVolume = await measured(async () => void (await cli('restore', id, '--to-volume', fresh)));
    await docker.getVolume(fresh).remove().catch(() => undefined);
    m.inPlace = await measured(async () => void (await cli('restore', id)));
    rounds.push(m);
    process.stderr.write(`round ${round + 1} of ${runs}: ${Object.entries(m).map(([k, v]) => `${k} ${v.s.toFixed(2)} s`).join(', ')}\n`);
  }
  // Per row, the median of the rounds (the first write into fresh space of the filesystem can take
  // twice as long as the next), and the highest agent peak of any round.
  const med = (key: string): Sample => ({ s: median(rounds.map((r) => r[key]!.s)), peakMiB: Math.max(...rounds.map((r) => r[key]!.peakMiB)) });
  const ratio = (m: Sample, base: Sample, name: string) => `${(m.s / base.s).toFixed(2)}x ${name}`;
  const row = (what: string, m: Sample, ...vs: string[]) =>
    `${what.padEnd(58)} ${m.s.toFixed(1).padStart(6)} s${vs.length ? `  (${vs.join(', ')})` : ''}  agent peak ${m.peakMiB.toFixed(0)} MiB`;
  const [tarC, tarCSync, dockerC, backup, tarX, tarXSync, dockerX, toVolume, inPlace] = ['tarC', 'tarCSync', 'dockerC', 'backup', 'tarX', 'tarXSync', 'dockerX', 'toVolume', 'inPlace'].map(med) as Sample[];
  const lines = [
    `median of ${runs} rounds`,
    row('tar -cf (host, the volume folder to a file)', tarC!),
    row('tar -cf && sync (the same, on disk)', tarCSync!),
    row('docker run ... tar -cf - > file (the usual recipe)', dockerC!),
    row('coreflow backup create (job + stream + sha256 + fsync)', backup!, ratio(backup!, tarC!, 'tar'), ratio(backup!, tarCSync!, 'tar && sync'), ratio(backup!, dockerC!, 'docker run')),
    row('tar -xf (host, into a new folder)', tarX!),
    row('tar -xf && sync (the same, on disk)', tarXSync!),
    row('docker run -i ... tar -xf - < file (into a new volume)', dockerX!),
    row('coreflow backup restore --to-volume (verify + job + sync)', toVolume!, ratio(toVolume!, tarX!, 'tar'), ratio(toVolume!, tarXSync!, 'tar && sync'), ratio(toVolume!, dockerX!, 'docker run')),
    row('coreflow backup restore in place (+ snapshot, scale 0/1)', inPlace!, ratio(inPlace!, tarX!, 'tar'), ratio(inPlace!, tarXSync!, 'tar && sync'), ratio(inPlace!, dockerX!, 'docker run')),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));
  await cleanupCluster(docker, doc.cluster.name);
  await waitFor('volumes removed', async () => {
    const left = ((await docker.listVolumes()).Volumes ?? []).filter((v) => v.Name.startsWith(`${doc.cluster.name}-`));
    for (const v of left) await docker.getVolume(v.Name).remove().catch(() => undefined);
    return left.length === 0;
  }, 60_000, 500).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
