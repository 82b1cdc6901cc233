import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import t from 'tap';
import { stringify } from 'yaml';
import { ArchiveStore } from '../../ts/backup/archive-store.ts';
import { BackupManager } from '../../ts/backup/backup-manager.ts';
import { Replicator, controlPlaneHttpBase } from '../../ts/backup/replicator.ts';
import { ServiceHolds } from '../../ts/backup/service-holds.ts';
import { Transfers } from '../../ts/backup/transfers.ts';
import { ControlPlane } from '../../ts/controlplane/control-plane.ts';
import { vaultDir } from '../../ts/controlplane/archive-vault.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { testDoc } from '../helpers/swarm.ts';

const TOKEN = 'replication-token-0123456789abcdef';

/** A real tar archive of a folder of random files, received into the store. */
async function archive(store: ArchiveStore, dir: string): Promise<{ digest: string; size: number }> {
  const src = join(dir, 'src');
  await mkdir(src, { recursive: true });
  for (let i = 0; i < 3; i++) await writeFile(join(src, `f${i}`), Buffer.from(createHash('sha256').update(String(i)).digest('hex').repeat(3000)));
  const tar = spawn('tar', ['-C', src, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return store.receive(tar.stdout);
}

t.test('backups copied to the reference control plane beside its spec file, resumed, verified, fetched back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-replication-'));
  const specPath = join(dir, 'cluster.yaml');
  await writeFile(specPath, stringify(testDoc('rep')));
  const cp = new ControlPlane({ specPath, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger(), pingIntervalMs: 5000 });
  await cp.start();
  t.teardown(async () => {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const base = controlPlaneHttpBase(`ws://127.0.0.1:${cp.port}/v1/agent`);
  t.equal(base, `http://127.0.0.1:${cp.port}`);
  const store = new ArchiveStore(join(dir, 'agent-backups'));
  const { digest, size } = await archive(store, dir);
  const hex = digest.slice('sha256:'.length);
  const manifest = { id: 'bk-20261127t050000z-abcdef', cluster: 'rep', service: 'db', createdAt: new Date().toISOString(), reason: 'manual' as const, consistency: 'live' as const, coreflowVersion: '0.0.0-test', volumes: [{ volume: 'db_data', node: 'n1', size, digest }], bindings: [] };
  await store.save(manifest);
  const local = await readFile(store.objectPath(digest));

  // Auth, bad offsets and a wrong archive are refused.
  t.equal((await fetch(`${base}/v1/archives/status?digest=${digest}`)).status, 401, 'no token: 401');
  const auth = { authorization: `Bearer ${TOKEN}` };
  const wrong = await fetch(`${base}/v1/archives?digest=sha256:${'0'.repeat(64)}&offset=0&total=5`, { method: 'PUT', headers: auth, body: 'hello' });
  t.equal(wrong.status, 422, 'bytes that do not match the digest are discarded');
  // An upload cut after the first 100000 bytes.
  const first = await fetch(`${base}/v1/archives?digest=${digest}&offset=0&total=${size}`, { method: 'PUT', headers: auth, body: local.subarray(0, 100_000) });
  t.same(await first.json(), { complete: false, received: 100_000 });
  const gap = await fetch(`${base}/v1/archives?digest=${digest}&offset=5&total=${size}`, { method: 'PUT', headers: auth, body: 'x' });
  t.equal(gap.status, 409, 'an offset other than what was received');

  const bus = new EventBus();
  const events: string[] = [];
  let sent = -1;
  bus.subscribe((e) => (events.push(e.type), (sent = Number(e.details?.bytes ?? -1))));
  const replicator = new Replicator({ baseUrl: base, token: TOKEN, store, log: silentLogger(), chunkBytes: 64 * 1024 });
  const manager = new BackupManager({
    docker: {} as Docker, store, transfers: new Transfers(store), holds: new ServiceHolds(), bus, log: silentLogger(), image: async () => 'unused',
    endpoint: async () => ({ host: '127.0.0.1', port: 0, network: 'host' }), jobTimeoutMs: 1000, cluster: () => 'rep', consistency: () => 'live', version: '0.0.0-test', replicator,
  });
  await manager.replicate();
  const kept = join(vaultDir(specPath), `${hex}.tar`);
  t.equal(vaultDir(specPath), join(dir, 'cluster.yaml.backups'), 'beside the spec file');
  t.same(await readFile(kept), local, 'the control plane holds the same bytes');
  t.match(JSON.parse(await readFile(join(vaultDir(specPath), 'manifests', `${manifest.id}.json`), 'utf8')), { id: manifest.id, volumes: [{ digest }] });
  t.ok((await store.get(manifest.id)).replicatedAt, 'marked replicated');
  t.same(events, ['backup.replicated']);
  t.equal(sent, size - 100_000, 'the upload resumed where the cut one stopped');
  t.equal(await replicator.upload(digest), 0, 'a second upload sends nothing');

  // The agent loses its copy; the archive comes back from the control plane, checked.
  await rm(store.objectPath(digest));
  await t.rejects(store.verify(digest), { code: 'COREFLOW_ERR_BACKUP_ARCHIVE_MISSING' });
  await replicator.fetch(digest);
  await store.verify(digest);
  t.equal((await stat(store.objectPath(digest))).size, size);
  await t.rejects(replicator.fetch(`sha256:${'1'.repeat(64)}`), { code: 'COREFLOW_ERR_BACKUP_ARCHIVE_MISSING' });
});
