import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import t from 'tap';
import { ArchiveStore } from '../../ts/backup/archive-store.ts';
import { BackupManager, type BackupManagerOptions } from '../../ts/backup/backup-manager.ts';
import { BackupSchedule } from '../../ts/backup/backup-schedule.ts';
import { ServiceHolds } from '../../ts/backup/service-holds.ts';
import { Transfers, TRANSFER_PATH } from '../../ts/backup/transfers.ts';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { CorestoreClient } from '../../ts/storage/corestore-client.ts';
import { corestoreBindingSnapshots } from '../../ts/storage/corestore-snapshots.ts';
import { FakeCorestore } from '../fakes/corestore.ts';
import { LABEL_CLUSTER } from '../../ts/docker/labels.ts';
import { derivedVolumeName } from '../../ts/docker/volumes.ts';
import { isCoreflowError } from '../../ts/errors.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';
import { agentTestImage } from '../helpers/image.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

const exec = promisify(execFile);

/** Seeds /data once (a later start keeps what is there), then idles. */
const SEED = [
  'if [ ! -e /data/.seeded ]; then',
  '  busybox mkdir -p "/data/sub/dir with space"',
  '  echo "hello backup" > /data/hello.txt',
  '  busybox seq 1 30000 > "/data/sub/dir with space/numbers.txt"',
  '  busybox head -c 300000 /dev/urandom > /data/random.bin',
  '  busybox touch /data/.seeded',
  'fi',
  'exec sleep 100000',
].join('\n');

/** The cluster's volumes, once the removed services' containers are gone. */
async function removeVolumes(docker: Docker, cluster: string): Promise<void> {
  await waitFor('the test volumes removed', async () => {
    const left = ((await docker.listVolumes()).Volumes ?? []).filter((v) => v.Name.startsWith(`${cluster}-`));
    for (const v of left) await docker.getVolume(v.Name).remove().catch(() => undefined);
    return left.length === 0;
  }, 60_000, 500).catch(() => undefined);
}

/**
 * The agent's side of backups: an archive store in a temporary folder and its transfer grants on a
 * real internal server, and managers over them (TEST_IMAGE jobs that reach that server, unless
 * overridden). The test's cluster, volumes, server and folder are removed at its end.
 */
async function backupRig(t: { teardown(fn: () => Promise<void>): void }, docker: Docker, cluster: string) {
  const dir = await mkdtemp(join(tmpdir(), 'cf-backup-'));
  const server = new InternalServer({ host: '0.0.0.0', port: 0 }, silentLogger());
  const store = new ArchiveStore(dir);
  const transfers = new Transfers(store);
  server.onUpgrade(TRANSFER_PATH, transfers.handleUpgrade);
  transfers.register(server.router);
  await server.start();
  t.teardown(async () => {
    await cleanupCluster(docker, cluster);
    await removeVolumes(docker, cluster);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const manager = (o: Partial<BackupManagerOptions> = {}) =>
    new BackupManager({
      docker, store, transfers, holds: new ServiceHolds(), bus: new EventBus(), log: silentLogger(), image: async () => TEST_IMAGE,
      endpoint: async () => ({ host: '127.0.0.1', port: server.port, network: 'host' }),
      jobTimeoutMs: 60_000, cluster: () => cluster, consistency: () => 'live', version: '0.0.0-test',
      ...o,
    });
  return { dir, store, transfers, manager };
}

const FILES = ['hello.txt', 'sub/dir with space/numbers.txt', 'random.bin'];

async function runningContainer(docker: Docker, service: string): Promise<string> {
  return waitFor(`a running task of ${service}`, async () => {
    const tasks = await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } });
    const running = tasks.find((x) => x.Status?.State === 'running' && x.Status.ContainerStatus?.ContainerID);
    return running?.Status?.ContainerStatus?.ContainerID;
  }, 60_000);
}

/** FILES' sha256 under /data, read by `docker ...dockerArgs busybox sha256sum`; rejects when one is missing. */
async function sha256sums(dockerArgs: string[]): Promise<Record<string, string>> {
  const { stdout } = await exec('docker', [...dockerArgs, 'busybox', 'sha256sum', ...FILES.map((f) => `/data/${f}`)]);
  return Object.fromEntries(stdout.trim().split('\n').map((line) => [line.slice(line.indexOf('/data/') + 6), line.split(' ')[0]!]));
}

/** FILES' sha256 as a running container of the service reads them. */
const fileHashes = (container: string) => sha256sums(['exec', container]);

/** FILES' sha256 as read from `volume` by a throwaway container. */
const volumeHashes = (volume: string) => sha256sums(['run', '--rm', '--log-driver', 'none', '-v', `${volume}:/data:ro`, TEST_IMAGE]);

t.test('a volume backed up by a job on its node, the files deleted, restored byte for byte; bad input refused', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('bk');
  const cluster = doc.cluster.name;
  const service = `${cluster}-db`;
  const plain = `${cluster}-plain`;
  doc.services = [
    { name: service, image: TEST_IMAGE, command: ['sh', '-c', SEED], volumes: [{ mountPath: '/data', driver: 'local', backup: true }, { mountPath: '/scratch', driver: 'local' }], stopGracePeriod: '1s' },
    { name: plain, image: TEST_IMAGE, command: ['sleep', '100000'], volumes: [{ mountPath: '/data', driver: 'local' }] },
  ];
  const { store, transfers, manager: managerWith } = await backupRig(t, docker, cluster);
  const bus = new EventBus(1000);
  const events: string[] = [];
  bus.subscribe((e) => events.push(`${e.type} ${e.name ?? ''}`));
  // The service owns a database in Corestore (the fake): it is snapshotted and restored with the volume.
  const corestore = await FakeCorestore.start();
  t.teardown(() => corestore.close());
  corestore.seed('database', `${cluster}-orders`, { cluster, service });
  const client = new CorestoreClient({ baseUrl: corestore.url, token: async () => corestore.token, retry: { baseBackoffMs: 5 } });
  const manager = managerWith({ bindings: corestoreBindingSnapshots(client, silentLogger(), { pollMs: 20 }), bus });

  const first = await runOnce(docker, doc);
  t.equal(first.status, 'succeeded', JSON.stringify(first.steps.map((s) => s.error ?? '')));
  const serviceId = (await docker.getService(service).inspect()).ID as string;
  const container = await runningContainer(docker, service);
  const before = await waitFor('seeded files', async () => fileHashes(container).catch(() => undefined));

  // Bad input: nothing starts.
  await t.rejects(manager.backup(`${cluster}-nope`), { code: 'COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE' });
  await t.rejects(manager.backup(plain), { code: 'COREFLOW_ERR_BACKUP_NO_VOLUMES' });
  await t.rejects(manager.backup(service, { volume: '/scratch' }), { code: 'COREFLOW_ERR_BACKUP_UNKNOWN_VOLUME' });
  await t.rejects(manager.restore('bk-nope'), { code: 'COREFLOW_ERR_BACKUP_NOT_FOUND' });
  t.same(await store.list(), [], 'no backup from bad input');

  // Backup.
  const started = await manager.backup(service);
  t.match(started.operation, { kind: 'backup', service, state: 'running' }, 'answers at once with the operation');
  const manifest = await started.done;
  const volume = derivedVolumeName(service, '/data');
  t.match(manifest, { id: started.operation.id, service, serviceId, cluster, reason: 'manual', consistency: 'live', coreflowVersion: '0.0.0-test' });
  t.equal(manifest.volumes.length, 1);
  const archive = manifest.volumes[0]!;
  t.match(archive, { volume, mountPath: '/data', node: String, digest: /^sha256:[0-9a-f]{64}$/ });
  const stored = await readFile(store.objectPath(archive.digest));
  t.equal(stored.length, archive.size, 'the size is the archive size');
  t.equal(`sha256:${createHash('sha256').update(stored).digest('hex')}`, archive.digest, 'stored under its own sha256');
  t.ok(stored.length > 400_000, 'the archive holds the files');
  t.equal(transfers.open, 0, 'the upload grant is closed');
  t.same(await docker.listContainers({ all: true, filters: { label: ['coreflow.backup-job', `${LABEL_CLUSTER}=${cluster}`] } }), [], 'the job\'s container is gone');
  t.same((await store.list(service)).map((m) => m.id), [manifest.id], 'listed');
  t.match(manifest.bindings, [{ type: 'database', name: `${cluster}-orders`, snapshotId: new RegExp(`^${manifest.id}-`), sizeBytes: 4096 }], 'the bound database snapshotted through Corestore');
  t.equal(corestore.snapshots.get(`database/${cluster}-orders`)?.[0]?.state, 'ready');

  // Data loss.
  await exec('docker', ['exec', container, 'busybox', 'rm', '-rf', '/data/hello.txt', '/data/sub', '/data/random.bin']);
  await t.rejects(fileHashes(container), 'the files are gone');

  // A restore and a second one at the same time: the second is refused.
  const restoring = await manager.restore(manifest.id);
  await t.rejects(manager.restore(manifest.id), { code: 'COREFLOW_ERR_BACKUP_BUSY' }, 'a second restore while one runs');
  await t.rejects(manager.backup(service), { code: 'COREFLOW_ERR_BACKUP_BUSY' }, 'a backup while a restore runs');
  await restoring.done;
  t.equal(restoring.operation.state, 'succeeded');
  t.equal((await docker.getService(service).inspect()).ID, serviceId, 'same service ID');
  t.equal((await docker.getService(service).inspect()).Spec.Mode.Replicated.Replicas, 1, 'scaled back');
  const after = await runningContainer(docker, service);
  t.not(after, container, 'the service was scaled to 0 and back');
  t.same(await fileHashes(after), before, 'every file back, byte for byte');
  t.equal((await exec('docker', ['exec', after, 'cat', '/data/hello.txt'])).stdout, 'hello backup\n');
  t.match(corestore.restores.get(`database/${cluster}-orders`), [{ snapshotId: manifest.bindings[0]!.snapshotId, state: 'ready' }], 'the database restored from its snapshot');
  const all = await store.list(service);
  t.same(all.map((m) => m.reason), ['manual', 'before-restore'], 'a snapshot was taken before the restore overwrote the volume');
  t.equal(all[1]!.consistency, 'stop', 'taken with the service stopped: it holds every write up to the restore');
  t.ok(events.includes(`backup.complete ${service}`) && events.includes(`restore.complete ${service}`), 'events');

  // A damaged archive: refused, nothing changes.
  const object = store.objectPath(archive.digest);
  const bytes = await readFile(object);
  bytes[1000] = bytes[1000]! ^ 0xff;
  await writeFile(object, bytes);
  const versionBefore = (await docker.getService(service).inspect()).Version.Index;
  const bad = await manager.restore(manifest.id);
  await t.rejects(bad.done, { code: 'COREFLOW_ERR_BACKUP_DIGEST' });
  t.equal(bad.operation.code, 'COREFLOW_ERR_BACKUP_DIGEST');
  t.equal((await docker.getService(service).inspect()).Version.Index, versionBefore, 'the service was not touched');
  t.equal(await runningContainer(docker, service), after, 'the same task runs');
  t.same(await fileHashes(after), before, 'the data is unchanged');
  t.equal((await store.list(service)).length, 2, 'no snapshot either');
  t.ok(isCoreflowError(await bad.done.catch((e: unknown) => e)));
});

t.test('scheduled backups keep exactly `keep`; a prunable backup-enabled volume is snapshotted before its removal', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('bks');
  const cluster = doc.cluster.name;
  const service = `${cluster}-app`;
  doc.services = [
    { name: service, image: TEST_IMAGE, command: ['sh', '-c', 'echo kept > /data/f.txt; exec sleep 100000'], volumes: [{ mountPath: '/data', driver: 'local', backup: true, prunable: true }], backup: { schedule: '0 3 * * *', keep: 2 }, stopGracePeriod: '1s' },
  ];
  const { dir, store, manager: managerWith } = await backupRig(t, docker, cluster);
  let consistency: 'live' | 'stop' = 'stop';
  const manager = managerWith({ consistency: () => consistency });
  const volume = derivedVolumeName(service, '/data');
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  const container = await runningContainer(docker, service);
  const serviceId = (await docker.getService(service).inspect()).ID as string;

  // The schedule: timers come from the desired state; ticks are triggered here.
  const ticks = new Map<string, () => void>();
  let spec = (await import('../helpers/swarm.ts')).load(doc).spec;
  const schedule = new BackupSchedule({ manager, spec: () => spec, log: silentLogger(), cron: (expr, tick) => (ticks.set(expr, tick), { stop: () => ticks.delete(expr) }) });
  await schedule.start();
  t.same(schedule.scheduled, [service]);
  t.ok(ticks.has('0 3 * * *'));
  const manual = await (await manager.backup(service)).done;
  t.equal(manual.consistency, 'stop', 'consistency stop recorded');
  t.equal((await docker.getService(service).inspect()).ID, serviceId, 'stop consistency: same service ID');
  t.equal((await docker.getService(service).inspect()).Spec.Mode.Replicated.Replicas, 1, 'scaled back after the copy');
  t.not(await runningContainer(docker, service), container, 'the task was stopped for the copy');
  consistency = 'live';
  for (let i = 0; i < 3; i++) await schedule.tick(service);
  const scheduled = (await store.list(service)).filter((m) => m.reason === 'schedule');
  t.equal(scheduled.length, 2, 'exactly keep=2 scheduled backups');
  t.ok((await store.list(service)).some((m) => m.id === manual.id), 'a manual backup is not removed by retention');
  t.equal((await readdir(join(dir, 'objects'))).length, new Set((await store.list()).flatMap((m) => m.volumes.map((v) => v.digest))).size, 'archives of deleted backups are gone');
  spec = { ...spec, services: [] };
  schedule.sync();
  t.same(schedule.scheduled, [], 'a schedule removed from the spec stops');
  await schedule.stop();

  // Prune: the service goes, its prunable backup-enabled volume is snapshotted, then removed.
  const before = (await store.list()).length;
  const steps = defaultSteps(docker, { beforeVolumeRemoval: async (v, signal) => void (await manager.snapshotUnmounted(v.name, v.labels, signal)) });
  const emptied = { ...doc, services: [] };
  await waitFor('the volume removed', async () => {
    const r = await runOnce(docker, emptied, { steps, confirmMassDeletion: true });
    const prune = r.steps.find((x) => x.kind === 'volume-prune');
    if (prune?.actions.some((a) => a.error)) t.comment(JSON.stringify(prune.actions.map((a) => a.error)));
    return !(await docker.listVolumes()).Volumes.some((v) => v.Name === volume);
  }, 90_000, 1000);
  const pruned = (await store.list()).filter((m) => m.reason === 'before-prune');
  t.equal((await store.list()).length, before + 1);
  t.equal(pruned.length, 1, 'a snapshot before the removal, listed');
  t.match(pruned[0], { service, volumes: [{ volume }] });
});

t.test('with the agent\'s image (node, bash and GNU tar, no busybox) the jobs copy the same bytes, owners and links', async (t) => {
  const { docker } = await connect();
  const image = await agentTestImage();
  const doc = testDoc('bkn');
  const cluster = doc.cluster.name;
  const service = `${cluster}-db`;
  const seed = SEED.replace('  busybox touch /data/.seeded', '  busybox chown 123:45 /data/hello.txt; busybox ln -s hello.txt /data/link; busybox touch /data/.seeded');
  doc.services = [{ name: service, image: TEST_IMAGE, command: ['sh', '-c', seed], volumes: [{ mountPath: '/data', driver: 'local', backup: true }], stopGracePeriod: '1s' }];
  const { store, manager: managerWith } = await backupRig(t, docker, cluster);
  const manager = managerWith({ image: async () => image });
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  const container = await runningContainer(docker, service);
  const before = await waitFor('seeded files', async () => fileHashes(container).catch(() => undefined));
  const owner = async (c: string) => (await exec('docker', ['exec', c, 'busybox', 'stat', '-c', '%u:%g', '/data/hello.txt'])).stdout.trim();
  const link = async (c: string) => (await exec('docker', ['exec', c, 'busybox', 'readlink', '/data/link'])).stdout.trim();
  t.equal(await owner(container), '123:45');

  // The agent's image declares a VOLUME: a job container must not leave one behind.
  const volumesBefore = new Set((await docker.listVolumes()).Volumes.map((v) => v.Name));
  const manifest = await (await manager.backup(service)).done;
  const listed = (await exec('tar', ['--numeric-owner', '-tvf', store.objectPath(manifest.volumes[0]!.digest)])).stdout;
  t.match(listed, /123\/45 .* \.\/hello\.txt/, 'the archive keeps the owner');
  t.match(listed, /\.\/link -> hello\.txt/, 'and the link');
  await exec('docker', ['exec', container, 'busybox', 'rm', '-rf', '/data/hello.txt', '/data/sub', '/data/random.bin', '/data/link']);
  await (await manager.restore(manifest.id)).done;
  const after = await runningContainer(docker, service);
  t.same(await fileHashes(after), before, 'every file back, byte for byte');
  t.equal(await owner(after), '123:45', 'with its owner');
  t.equal(await link(after), 'hello.txt', 'the link back');
  const jobsLeft = async () => (await docker.listContainers({ all: true, filters: { label: [`coreflow.backup-job`, `${LABEL_CLUSTER}=${cluster}`] } })).length;
  t.equal(await jobsLeft(), 0, 'no job container left');
  const volumesAfter = (await docker.listVolumes()).Volumes.map((v) => v.Name).filter((v) => !volumesBefore.has(v));
  t.same(volumesAfter, [], 'nor a volume of one');

  const unreachable = await managerWith({ image: async () => image, endpoint: async () => ({ host: '127.0.0.1', port: 1, network: 'host' }) }).backup(service);
  await t.rejects(unreachable.done, { code: 'COREFLOW_ERR_BACKUP_JOB', message: /exited with code 1/ }, 'a job that cannot reach the agent fails, with its exit code');
  t.equal(await jobsLeft(), 0, 'and its container is removed');
  t.equal((await store.list(service)).length, 2, 'no backup recorded for it');
});

t.test('a restore into a new volume copies the backup beside the live data; a volume that holds data is refused, unchanged', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('bkv');
  const cluster = doc.cluster.name;
  const service = `${cluster}-db`;
  doc.services = [{ name: service, image: TEST_IMAGE, command: ['sh', '-c', SEED], volumes: [{ mountPath: '/data', driver: 'local', backup: true }], stopGracePeriod: '1s' }];
  const { manager: managerWith } = await backupRig(t, docker, cluster);
  const manager = managerWith();
  t.equal((await runOnce(docker, doc)).status, 'succeeded');
  const container = await runningContainer(docker, service);
  const before = await waitFor('seeded files', async () => fileHashes(container).catch(() => undefined));
  const manifest = await (await manager.backup(service)).done;
  const live = derivedVolumeName(service, '/data');
  await exec('docker', ['exec', container, 'sh', '-c', 'echo changed since > /data/hello.txt']);
  const { Version } = await docker.getService(service).inspect();

  const copy = `${cluster}-copy`;
  await (await manager.restore(manifest.id, { toVolume: copy })).done;
  t.same(await volumeHashes(copy), before, 'the new volume holds the backup, byte for byte');
  t.equal((await docker.getService(service).inspect()).Version.Index, Version.Index, 'the service was not touched');
  t.equal(await runningContainer(docker, service), container, 'its task still runs');
  t.equal((await exec('docker', ['exec', container, 'cat', '/data/hello.txt'])).stdout, 'changed since\n', 'and its data is its own');

  const refused = await manager.restore(manifest.id, { toVolume: live });
  await t.rejects(refused.done, { code: 'COREFLOW_ERR_BACKUP_INVALID', message: new RegExp(`volume ${live} already holds data`) });
  t.equal((await exec('docker', ['exec', container, 'cat', '/data/hello.txt'])).stdout, 'changed since\n', 'the volume that held data is unchanged');
});
