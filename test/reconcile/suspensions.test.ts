import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Suspensions } from '../../ts/reconcile/suspensions.ts';

t.test('run-time suspensions are kept in the state directory and survive a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-susp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = new Suspensions(dir);
  t.equal(await a.load(), undefined, 'no file: nothing suspended, no error');
  t.equal(await a.set('service/web', true), true);
  t.equal(await a.set('service/web', true), false, 'already suspended');
  await Promise.all([a.set('service/api', true), a.set('service/db', true)]);
  t.same(JSON.parse(await readFile(a.path, 'utf8')).suspended, ['service/api', 'service/db', 'service/web']);
  const b = new Suspensions(dir);
  await b.load();
  t.same([...b.current].sort(), ['service/api', 'service/db', 'service/web'], 'read back after a restart');
  t.equal(await b.set('service/web', false), true);
  t.notOk(b.current.has('service/web'));
});

t.test('an unreadable file is reported; a failed write changes nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-susp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'suspended.json'), '{ not json');
  const s = new Suspensions(dir);
  t.match(await s.load(), /JSON/);
  t.equal(s.current.size, 0);
  // A state "directory" that is a file: the write fails.
  const blocked = new Suspensions(join(dir, 'suspended.json'));
  await t.rejects(blocked.set('service/web', true), { code: 'COREFLOW_ERR_STATE_WRITE' });
  t.equal(blocked.current.size, 0, 'not suspended when it could not be saved');
});
