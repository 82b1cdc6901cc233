import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { neededVolumeDrivers, volumeDriverNames, volumeDriverProblem } from '../../ts/docker/volume-drivers.ts';
import { planVolumePrune } from '../../ts/docker/volume-prune.ts';
import { derivedVolumeName, renderMounts } from '../../ts/docker/volumes.ts';
import { desiredWorkloads } from '../../ts/docker/workload.ts';
import { validateSpec } from '../../ts/spec/parse.ts';
import { cleanupCluster, connect, runOnce, TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

const exec = promisify(execFile);

const spec = (services: unknown[]) => validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, services }).spec;

t.test('derived names: stable, Docker-safe, distinct per path', async (t) => {
  t.equal(derivedVolumeName('web', '/var/lib/data'), derivedVolumeName('web', '/var/lib/data'));
  t.match(derivedVolumeName('web', '/var/lib/data'), /^web_var-lib-data_[0-9a-f]{6}$/);
  t.not(derivedVolumeName('web', '/a-b'), derivedVolumeName('web', '/a/b'));
  const long = derivedVolumeName('s'.repeat(63), `/${'p'.repeat(80)}`);
  t.ok(long.length <= 63);
  t.match(long, /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
});

t.test('mounts: corestore by default with the service identity, local when asked, binds from volumeMounts, stop-first', async (t) => {
  const s = spec([
    {
      name: 'db',
      image: 'i:1',
      volumes: [{ mountPath: '/data', driver: 'local' }, { mountPath: '/store', backup: true, driverOptions: { size: '1G' } }, { mountPath: '/named', name: 'shared-vol', prunable: true, driver: 'local' }],
      resources: { volumeMounts: [{ hostFsPath: '/srv/conf', containerFsPath: '/conf', readOnly: true }] },
    },
    { name: 'web', image: 'i:1' },
    { name: 'override', image: 'i:1', volumes: [{ mountPath: '/data' }], update: { order: 'start-first' } },
  ]);
  const mounts = renderMounts(s, s.services[0]!);
  t.same(mounts.map((m) => [m.Type, m.Source, m.Target]), [
    ['volume', derivedVolumeName('db', '/data'), '/data'],
    ['volume', derivedVolumeName('db', '/store'), '/store'],
    ['volume', 'shared-vol', '/named'],
    ['bind', '/srv/conf', '/conf'],
  ]);
  t.same(mounts[0]!.VolumeOptions!.DriverConfig, { Name: 'local' });
  t.same(mounts[1]!.VolumeOptions!.DriverConfig, {
    Name: 'corestore',
    Options: { cluster: 'c1', service: 'db', volume: derivedVolumeName('db', '/store'), mountPath: '/store', backup: 'true', size: '1G' },
  });
  t.equal(mounts[1]!.VolumeOptions!.Labels!['coreflow.service'], 'db');
  t.equal(mounts[1]!.VolumeOptions!.Labels!['coreflow.backup'], 'true');
  t.equal(mounts[2]!.VolumeOptions!.Labels!['coreflow.prunable'], 'true');
  t.equal(mounts[0]!.VolumeOptions!.Labels!['coreflow.prunable'], undefined);
  t.equal(mounts[3]!.ReadOnly, true);
  const [db, web, override] = desiredWorkloads(s);
  t.equal(db!.spec.UpdateConfig!.Order, 'stop-first', 'a volume means stop-first');
  t.equal(web!.spec.UpdateConfig!.Order, 'start-first');
  t.equal(override!.spec.UpdateConfig!.Order, 'start-first', 'the spec can override');
});

t.test('volume drivers: the nodes\' plugins; only non-local, non-external volumes are checked', async (t) => {
  const nodes = [{ Description: { Engine: { Plugins: [{ Type: 'Volume', Name: 'local' }, { Type: 'Network', Name: 'overlay' }] } } }, { Description: { Engine: { Plugins: [{ Type: 'Volume', Name: 'corestore:latest' }] } } }];
  t.same([...volumeDriverNames(nodes)].sort(), ['corestore', 'corestore:latest', 'local']);
  const s = validateSpec({
    apiVersion: 'coreflow/v1',
    cluster: { name: 'c1' },
    baseServices: { corestore: { enabled: false } },
    services: [
      { name: 'a', image: 'i:1', volumes: [{ mountPath: '/d' }] },
      { name: 'b', image: 'i:1', volumes: [{ mountPath: '/d', driver: 'local' }, { mountPath: '/e', name: 'old', external: true }] },
    ],
  }).spec;
  t.same([...neededVolumeDrivers(s)], ['corestore']);
  const local = new Set(['local']);
  t.match(volumeDriverProblem(s, 'a', local), { code: 'COREFLOW_ERR_VOLUME_PLUGIN_MISSING', reason: /driver "corestore", but no node/ });
  t.equal(volumeDriverProblem(s, 'b', local), undefined, 'local and external volumes need no plugin');
  t.equal(volumeDriverProblem(s, 'a', volumeDriverNames(nodes)), undefined);
  t.equal(volumeDriverProblem(s, 'a', undefined), undefined, 'not looked up: no verdict');
  const withCorestore = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, baseServices: { corestore: { enabled: true } }, services: [{ name: 'a', image: 'i:1', volumes: [{ mountPath: '/d' }] }] }).spec;
  t.equal(volumeDriverProblem(withCorestore, 'a', local), undefined, 'the corestore base service provides the plugin');
});

t.test('two mounts on one path fail that service alone', async (t) => {
  const s = spec([{ name: 'x', image: 'i:1', volumes: [{ mountPath: '/d' }], resources: { volumeMounts: [{ hostFsPath: '/h', containerFsPath: '/d' }] } }]);
  t.match(desiredWorkloads(s)[0]!.invalid, 'two mounts on /d');
});

t.test('prune plan: only owned, prunable, undesired, unused volumes', async (t) => {
  const owned = { 'coreflow.managed-by': 'coreflow', 'coreflow.cluster': 'c1', 'coreflow.kind': 'volume' };
  const actions = planVolumePrune('c1', new Set(['wanted']), {
    volumes: [
      { name: 'wanted', labels: { ...owned, 'coreflow.prunable': 'true' } },
      { name: 'gone', labels: { ...owned, 'coreflow.prunable': 'true', 'coreflow.service': 'old' } },
      { name: 'busy', labels: { ...owned, 'coreflow.prunable': 'true' } },
      { name: 'keep', labels: owned },
      { name: 'other', labels: { ...owned, 'coreflow.cluster': 'c2', 'coreflow.prunable': 'true' } },
    ],
    inUse: new Set(['busy']),
  });
  t.same(actions.map((a) => [a.name, a.type]), [['gone', 'delete'], ['busy', 'skip']]);
});

t.test('on the swarm: data survives removing and re-adding the service; only prunable volumes are pruned', async (t) => {
  const { docker } = await connect();
  const hostDir = await mkdtemp(join(tmpdir(), 'cf-bind-'));
  await writeFile(join(hostDir, 'app.conf'), 'from-the-host\n');
  const doc = testDoc('vol');
  const id = doc.cluster.name;
  const keeper = { name: `${id}-keeper`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 };
  const app = {
    name: `${id}-app`,
    image: TEST_IMAGE,
    // Appends one line per start to the volume, then waits (exits at once on SIGTERM).
    command: ['sh', '-c', "date >> /data/boots; trap 'exit 0' TERM; while true; do sleep 1; done"],
    volumes: [{ mountPath: '/data', driver: 'local' }],
    resources: { volumeMounts: [{ hostFsPath: hostDir, containerFsPath: '/conf', readOnly: true }] },
  };
  const scratch = { name: `${id}-scratch`, image: TEST_IMAGE, command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"], volumes: [{ mountPath: '/tmpdata', prunable: true, driver: 'local' }] };
  const volName = derivedVolumeName(app.name, '/data');
  const scratchVol = derivedVolumeName(scratch.name, '/tmpdata');
  t.teardown(async () => {
    await cleanupCluster(docker, id);
    for (const v of [volName, scratchVol]) {
      await waitFor(`volume ${v} removed`, async () => {
        await docker.getVolume(v).remove().catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 404) throw e;
        });
        return true;
      }, 30_000, 1000).catch(() => undefined);
    }
  });

  const boots = async (): Promise<string[] | undefined> => {
    const tasks = await docker.listTasks({ filters: { service: [app.name], 'desired-state': ['running'] } });
    const cid = tasks.find((x) => x.Status?.State === 'running')?.Status?.ContainerStatus?.ContainerID;
    if (!cid) return undefined;
    const { stdout } = await exec('docker', ['exec', cid, 'cat', '/data/boots']);
    return stdout.trim().split('\n');
  };

  let r = await runOnce(docker, { ...doc, services: [keeper, app, scratch] });
  t.equal(r.status, 'succeeded', JSON.stringify(r.steps));
  t.equal((await waitFor('first boot written', boots)).length, 1);
  const again = await runOnce(docker, { ...doc, services: [keeper, app, scratch] });
  t.same([again.summary.creates, again.summary.updates, again.summary.deletes], [0, 0, 0], 'mounts cause no drift: a second run changes nothing');
  const tasks = await docker.listTasks({ filters: { service: [app.name], 'desired-state': ['running'] } });
  const cid = tasks.find((x) => x.Status?.State === 'running')!.Status!.ContainerStatus!.ContainerID!;
  t.equal((await exec('docker', ['exec', cid, 'cat', '/conf/app.conf'])).stdout, 'from-the-host\n', 'the bind mount shows the host file');
  await waitFor('scratch volume created', async () => (await docker.getVolume(scratchVol).inspect()).Name);
  const vol = await docker.getVolume(volName).inspect();
  t.equal(vol.Labels!['coreflow.cluster'], id, 'the volume carries ownership labels');
  t.equal(vol.Labels!['coreflow.service'], app.name);

  // Remove app and scratch (2 of 3 owned: past the mass-deletion guard, so confirm it).
  r = await runOnce(docker, { ...doc, services: [keeper] }, { confirmMassDeletion: true });
  t.equal(r.status, 'succeeded', JSON.stringify(r.steps));
  await waitFor('app containers gone', async () => (await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${app.name}`] } })).length === 0, 60_000, 500);
  await waitFor('scratch containers gone', async () => (await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${scratch.name}`] } })).length === 0, 60_000, 500);
  r = await runOnce(docker, { ...doc, services: [keeper] });
  const pruned = r.steps.find((s) => s.kind === 'volume-prune')!;
  t.same(pruned.actions.map((a) => [a.name, a.type, a.status]), [[scratchVol, 'delete', 'succeeded']], 'the prunable volume is removed');
  t.ok(await docker.getVolume(volName).inspect(), 'the unmarked volume stays');

  r = await runOnce(docker, { ...doc, services: [keeper, app] });
  t.equal(r.status, 'succeeded', JSON.stringify(r.steps));
  const lines = await waitFor('second boot written', async () => {
    const b = await boots();
    return b && b.length === 2 ? b : undefined;
  }, 60_000);
  t.equal(lines.length, 2, 'the line written before removal is still there');
});

t.test('on the swarm: a corestore volume without the plugin fails that service alone, with a clear reason', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('volplug');
  const id = doc.cluster.name;
  t.teardown(() => cleanupCluster(docker, id));
  const other = { name: `${id}-other`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 };
  const stored = { name: `${id}-stored`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0, volumes: [{ mountPath: '/data' }] };
  const r = await runOnce(docker, { ...doc, services: [other, stored] });
  const services = r.steps.find((s) => s.kind === 'services')!;
  const failed = services.actions.find((a) => a.name === stored.name)!;
  t.equal(failed.status, 'failed');
  t.equal(failed.code, 'COREFLOW_ERR_VOLUME_PLUGIN_MISSING');
  t.match(failed.error, /no node of this swarm has the corestore volume plugin.*driver: local/);
  t.notMatch(failed.error, /HTTP code|at .*\.ts/, 'no Docker stack trace');
  t.equal(services.actions.find((a) => a.name === other.name)!.status, 'succeeded', 'the other service is deployed');
  await t.rejects(docker.getService(stored.name).inspect(), 'the service was not created');
});
