import t from 'tap';
import { chmod, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DesiredStore } from '../../ts/controlplane/desired-store.ts';
import { testDoc } from '../helpers/swarm.ts';

async function store() {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-store-'));
  const path = join(dir, 'spec.yaml');
  await writeFile(path, `# operator comment\n${stringify(testDoc('cf4store'))}`);
  await chmod(path, 0o640);
  const s = new DesiredStore(path);
  await s.load();
  return { s, path, dir };
}

t.test('an update is validated as a whole document, written atomically, then in force', async (t) => {
  const { s, path, dir } = await store();
  const before = s.current.hash;
  const added = await s.updateService({ name: 'web', image: 'busybox:1', environment: { A: '1' } });
  t.match(added, { ok: true, changed: true });
  t.not(s.current.hash, before);
  const replaced = await s.updateService({ name: 'web', image: 'busybox:2' });
  t.match(replaced, { ok: true, changed: true });
  t.same((parse(await readFile(path, 'utf8')) as { services: unknown[] }).services, [{ name: 'web', image: 'busybox:2' }], 'replaced by name, kept as written (no defaults expanded)');
  t.same(await readdir(dir), ['spec.yaml'], 'no temporary files left behind');
  t.equal((await stat(path)).mode & 0o777, 0o640, 'the file keeps its permissions');
  const same = await s.updateService({ name: 'web', image: 'busybox:2' });
  t.match(same, { ok: true, changed: false }, 'an identical update changes nothing');
});

t.test('an invalid update changes nothing and lists every error', async (t) => {
  const { s, path } = await store();
  const text = await readFile(path, 'utf8');
  const hash = s.current.hash;
  t.same(await s.updateService({ name: 'x', scaleFactor: 1.5, publish: [{ target: 0, published: 80 }] }), {
    ok: false,
    errors: ['services[0].scaleFactor: expected a whole number', 'services[0].publish[0].target: expected a port number (1-65535)'],
  });
  t.same(await s.updateService({ image: 'busybox:1' }), { ok: false, errors: ['service.name: required'] });
  t.same(await s.updateService([1]), { ok: false, errors: ['service: expected an object'] });
  t.equal(await readFile(path, 'utf8'), text, 'the file is unchanged');
  t.equal(s.current.hash, hash, 'the desired state is unchanged');
});

t.test('an invalid spec file fails the start with every error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-store-'));
  const path = join(dir, 'spec.yaml');
  await writeFile(path, stringify({ ...testDoc('cf4store'), services: [{ name: 'a', scaleFactor: 'x' }] }));
  await t.rejects(new DesiredStore(path).load(), /services\[0\]\.scaleFactor: expected a whole number/);
});
