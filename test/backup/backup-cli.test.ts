import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { progressLine } from '../../ts/cli/backup-command.ts';
import { runProcess } from '../helpers/run-process.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

/** `coreflow backup ...` as real child processes against `coreflow agent` as a real child process. */
const TOKEN = 'backup-admin-token-5f1e0c9a7b3d';
const bin = new URL('../../bin/coreflow.js', import.meta.url).pathname;

t.test('the progress line', async (t) => {
  t.equal(progressLine({ kind: 'backup', bytesDone: 512 * 1024, bytesTotal: 1024 * 1024 }, 10), 'backup [#####-----]  50% 0.5 MiB / 1.0 MiB');
  t.equal(progressLine({ kind: 'restore', bytesDone: 1048576 }), 'restore 1.0 MiB');
});

t.test('coreflow backup create, list, restore and delete against a running agent', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('bkcli') as Record<string, any>;
  const service = `${doc.cluster.name}-db`;
  doc.services = [{ name: service, image: TEST_IMAGE, command: ['sh', '-c', '[ -e /data/x ] || echo one > /data/x; exec sleep 100000'], volumes: [{ mountPath: '/data', driver: 'local', backup: true }], stopGracePeriod: '1s' }];
  const dir = mkdtempSync(join(tmpdir(), 'coreflow-backup-cli-'));
  writeFileSync(join(dir, 'cluster.yaml'), stringify(doc));
  // A job container an earlier agent left (it stopped mid-job), and one of another cluster.
  const leftover = async (cluster: string) =>
    (await runProcess('docker', ['create', '--label', 'coreflow.backup-job=bk-left', '--label', `coreflow.cluster=${cluster}`, '--label', 'coreflow.managed-by=coreflow', TEST_IMAGE, 'sh'])).stdout.trim();
  const ours = await leftover(doc.cluster.name);
  const theirs = await leftover(`${doc.cluster.name}-other`);
  t.teardown(() => runProcess('docker', ['rm', '-f', ours, theirs]).then(() => undefined));
  const child = spawn(process.execPath, [bin, 'agent', '--spec', join(dir, 'cluster.yaml'), '--port', '0', '--host', '127.0.0.1', '--state-dir', dir], {
    env: { ...process.env, COREFLOW_API_TOKEN: TOKEN, COREFLOW_BACKUP_IMAGE: TEST_IMAGE, COREFLOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += String(c)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await cleanupCluster(docker, doc.cluster.name);
    await waitFor('the volume removed', async () => {
      const left = ((await docker.listVolumes()).Volumes ?? []).filter((v) => v.Name.startsWith(`${doc.cluster.name}-`));
      for (const v of left) await docker.getVolume(v.Name).remove().catch(() => undefined);
      return left.length === 0;
    }, 60_000, 500).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const port = await waitFor('the internal server to listen', async () => Number(/"port":(\d+)[^\n]*internal server listening/.exec(stderr)?.[1] ?? 0) || undefined, 30_000);
  const agent = `127.0.0.1:${port}`;
  await waitFor('a running task', async () => (await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } })).some((x) => x.Status?.State === 'running'), 60_000);
  const exists = async (id: string) => (await runProcess('docker', ['container', 'inspect', id])).code === 0;
  await waitFor('the leftover job container removed', async () => !(await exists(ours)), 30_000);
  t.ok(await exists(theirs), 'a job container of another cluster is left alone');
  t.match(stderr, /"removed":1,.*removed backup jobs an earlier agent left unfinished/, 'and the agent says so');
  const env = { ...process.env, COREFLOW_API_TOKEN: TOKEN };
  const cli = (...args: string[]) => runProcess(process.execPath, [bin, 'backup', ...args, '--agent', agent], { env });

  const anonymous = await runProcess(process.execPath, [bin, 'backup', 'create', service, '--agent', agent], { env: { ...process.env, COREFLOW_API_TOKEN: '' } });
  t.equal(anonymous.code, 1);
  t.match(anonymous.stderr, 'COREFLOW_ERR_HTTP_UNAUTHORIZED', 'without the token: refused');
  const unknown = await cli('create', `${doc.cluster.name}-nope`);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, 'COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE');

  const created = await cli('create', service);
  t.equal(created.code, 0, created.stderr);
  const id = /backup (bk-\S+) of/.exec(created.stdout)?.[1];
  t.ok(id, created.stdout);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const progress = (query: string) => fetch(`http://${agent}/v1/backups/operations?${query}`, { headers: auth });
  const badWait = await progress(`id=${id}&wait=soon`);
  t.equal(badWait.status, 400, 'a wait that is not milliseconds: refused');
  t.match(await badWait.json(), { error: /wait: expected milliseconds from 0 to 30000, got "soon"/ });
  // The long poll: asked right after the start, the answer comes when the backup has ended.
  const startedRes = await fetch(`http://${agent}/v1/backups`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ service }) });
  const second = ((await startedRes.json()) as { backupId: string }).backupId;
  t.match(await (await progress(`id=${second}&wait=30000`)).json(), { id: second, state: 'succeeded' }, 'a waiting request is answered once the operation has ended');
  t.equal((await cli('delete', second)).code, 0);
  const listed = await cli('list', service, '--json');
  t.equal(listed.code, 0);
  t.match(JSON.parse(listed.stdout), [{ id, service, reason: 'manual', volumes: [{ mountPath: '/data' }] }]);

  const restored = await cli('restore', id!);
  t.equal(restored.code, 0, restored.stderr);
  t.match(restored.stdout, `from ${id}`);
  const deleted = await cli('delete', id!);
  t.equal(deleted.code, 0);
  const after = JSON.parse((await cli('list', '--json')).stdout) as { id: string; reason: string }[];
  t.same(after.map((b) => b.reason), ['before-restore'], 'the deleted backup is gone; the snapshot before the restore stays');
  const table = await cli('list');
  t.match(table.stdout, /^ID\s+SERVICE\s+REASON/);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly');
  t.notMatch(stderr, TOKEN, 'the admin token is never logged');
});
