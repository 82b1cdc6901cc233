import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ArchiveStore } from '../../ts/backup/archive-store.ts';
import { BackupManager } from '../../ts/backup/backup-manager.ts';
import { ServiceHolds } from '../../ts/backup/service-holds.ts';
import { derivedVolumeName } from '../../ts/docker/volumes.ts';
import { Transfers, TRANSFER_PATH } from '../../ts/backup/transfers.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';
import { AGENT_IMAGE, BRIDGE, connectNodes, nodeSocket, type NodeNumber } from '../helpers/multinode.ts';
import { cleanupCluster, runOnce, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/**
 * Backups on the three-manager swarm: the agent talks to node 1's engine, the service and its
 * volume live on node 3. The backup job runs on node 3 (where the volume is) and streams to the
 * agent on the host's bridge address; the restore brings the files back there, byte for byte.
 * The jobs run the agent's image (on every node), as an agent that runs as a service does: bash,
 * GNU tar and node move the bytes.
 */

const exec = promisify(execFile);
const VOLUME_NODE: NodeNumber = 3;
const FILES = ['hello.txt', 'random.bin'];
const SEED = [
  'if [ ! -e /data/.seeded ]; then',
  '  echo "hello from node 3" > /data/hello.txt',
  '  busybox head -c 200000 /dev/urandom > /data/random.bin',
  '  busybox touch /data/.seeded',
  'fi',
  'exec sleep 100000',
].join('\n');

const onNode = (args: string[]) => exec('docker', ['-H', nodeSocket(VOLUME_NODE), ...args]);

async function fileHashes(container: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of FILES) out[f] = (await onNode(['exec', container, 'busybox', 'sha256sum', `/data/${f}`])).stdout.split(' ')[0]!;
  return out;
}

t.test('a volume on another node is backed up and restored on that node', async (t) => {
  const nodes = await connectNodes();
  const docker = nodes[0]!.docker;
  const volumeNode = nodes.find((n) => n.n === VOLUME_NODE)!;
  const doc = testDoc('mnbk');
  const cluster = doc.cluster.name;
  const service = `${cluster}-db`;
  doc.services = [
    {
      name: service,
      image: TEST_IMAGE,
      command: ['sh', '-c', SEED],
      volumes: [{ mountPath: '/data', driver: 'local', backup: true }],
      placement: { constraints: [`node.id == ${volumeNode.id}`] },
      stopGracePeriod: '1s',
    },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'cf-mn-backup-'));
  const server = new InternalServer({ host: BRIDGE, port: 0 }, silentLogger());
  const store = new ArchiveStore(dir);
  const transfers = new Transfers(store);
  server.onUpgrade(TRANSFER_PATH, transfers.handleUpgrade);
  transfers.register(server.router);
  await server.start();
  const manager = new BackupManager({
    docker,
    store,
    transfers,
    holds: new ServiceHolds(),
    bus: new EventBus(),
    log: silentLogger(),
    image: async () => AGENT_IMAGE,
    // The job's task runs in its node's namespace with host networking: the host is on the bridge.
    endpoint: async () => ({ host: BRIDGE, port: server.port, network: 'host' }),
    jobTimeoutMs: 120_000,
    cluster: () => cluster,
    consistency: () => 'live',
    version: '0.0.0-test',
  });
  t.teardown(async () => {
    await cleanupCluster(docker, cluster);
    await waitFor('the test volume removed', async () => {
      const left = ((await volumeNode.docker.listVolumes()).Volumes ?? []).filter((v) => v.Name.startsWith(`${cluster}-`));
      for (const v of left) await volumeNode.docker.getVolume(v.Name).remove().catch(() => undefined);
      return left.length === 0;
    }, 60_000, 500).catch(() => undefined);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    for (const n of nodes) n.conn.close();
  });

  const first = await runOnce(docker, doc);
  t.equal(first.status, 'succeeded', 'the service is created');
  const serviceId = (await docker.getService(service).inspect()).ID as string;
  const runningTask = () =>
    waitFor(`a running task of ${service}`, async () => {
      const tasks = await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } });
      const task = tasks.find((x) => x.Status?.State === 'running' && x.Status.ContainerStatus?.ContainerID);
      return task && { node: task.NodeID as string, container: task.Status!.ContainerStatus!.ContainerID as string };
    }, 120_000, 500);
  const before = await runningTask();
  t.equal(before.node, volumeNode.id, 'the service runs on node 3');
  const hashes = await waitFor('seeded files', async () => fileHashes(before.container).catch(() => undefined), 30_000);

  const started = await manager.backup(service);
  const manifest = await started.done;
  t.equal(manifest.volumes[0]?.node, volumeNode.id, 'the snapshot was taken on the node that holds the volume');
  t.ok((manifest.volumes[0]?.size ?? 0) > 200_000, 'the archive holds the files');

  await onNode(['exec', before.container, 'busybox', 'rm', '-f', '/data/hello.txt', '/data/random.bin']);
  await t.rejects(fileHashes(before.container), 'the files are gone');

  const restoring = await manager.restore(manifest.id);
  await restoring.done;
  t.equal(restoring.operation.state, 'succeeded', 'the restore succeeded');
  t.equal((await docker.getService(service).inspect()).ID, serviceId, 'same service ID');
  const after = await runningTask();
  t.equal(after.node, volumeNode.id, 'the service runs on node 3 again');
  t.same(await fileHashes(after.container), hashes, 'every file back on node 3, byte for byte');

  // A restore into a new volume never overwrites one that holds data; the refusal comes back from the Swarm job's exit code.
  await onNode(['exec', after.container, 'busybox', 'rm', '-f', '/data/hello.txt']);
  const refused = await manager.restore(manifest.id, { toVolume: derivedVolumeName(service, '/data') });
  await t.rejects(refused.done, { code: 'COREFLOW_ERR_BACKUP_INVALID', message: /already holds data/ }, 'the live volume\'s name is refused as a new volume');
  await t.rejects(onNode(['exec', after.container, 'busybox', 'test', '-e', '/data/hello.txt']), 'and nothing was written to it');
});
