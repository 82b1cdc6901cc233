import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256OfFile } from '../../ts/fs/file-sha256.ts';

const CHUNK = 512 * 1024;
const dir = await mkdtemp(join(tmpdir(), 'coreflow-sha-'));

t.test('the digest of files of every size around the chunk boundaries', async (t) => {
  for (const bytes of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7]) {
    const data = randomBytes(bytes);
    const path = join(dir, `f${bytes}`);
    await writeFile(path, data);
    t.equal(await sha256OfFile(path), createHash('sha256').update(data).digest('hex'), `${bytes} bytes`);
  }
});

t.test('a missing file is an error', async (t) => {
  await t.rejects(sha256OfFile(join(dir, 'missing')), { code: 'ENOENT' });
});

t.test('an aborted signal stops it', async (t) => {
  const path = join(dir, 'big');
  await writeFile(path, randomBytes(4 * CHUNK));
  await t.rejects(sha256OfFile(path, AbortSignal.abort()), { name: 'AbortError' });
  const stop = new AbortController();
  const hashing = sha256OfFile(path, stop.signal);
  stop.abort();
  await t.rejects(hashing, { name: 'AbortError' }, 'also once started: between two chunks');
});
