import t from 'tap';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../ts/fs/atomic-file.ts';

t.test('replaces the file whole, creates folders, leaves no temporary file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-atomic-'));
  const path = join(dir, 'sub', 'state.json');
  await writeFileAtomic(path, 'one');
  await writeFileAtomic(path, 'two');
  t.equal(await readFile(path, 'utf8'), 'two');
  t.same(await readdir(join(dir, 'sub')), ['state.json']);
  t.equal((await stat(path)).mode & 0o777, 0o600, 'private by default');
});

t.test('a write that fails at the rename keeps what was there and leaves no temporary file', async (t) => {
  // A folder in the target's place makes the final rename fail, as a full or broken disk would,
  // and it fails for root too (unlike permissions).
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-atomic-'));
  const path = join(dir, 'state.json');
  await mkdir(path);
  await writeFile(join(path, 'kept'), 'old');
  await t.rejects(writeFileAtomic(path, 'new'), { code: 'COREFLOW_ERR_STATE_WRITE', message: /state\.json/ });
  t.equal(await readFile(join(path, 'kept'), 'utf8'), 'old');
  t.same(await readdir(dir), ['state.json'], 'the temporary file was removed');
});

t.test('a failed write into a path that is a folder keeps what was there', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-atomic-'));
  await t.rejects(writeFileAtomic(dir, 'x'), { code: 'COREFLOW_ERR_STATE_WRITE', message: /cannot write/ });
  t.same((await readdir(join(dir, '..'))).filter((n) => n.includes('.tmp') && n.includes(dir.split('/').pop()!)), []);
});
