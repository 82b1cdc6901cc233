import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { durableWriteStream } from '../../ts/fs/durable-write-stream.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('writes every byte in order, flushing as it goes, with the mode asked for', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-durable-'));
  const path = join(dir, 'archive.part');
  const chunks = Array.from({ length: 128 }, () => randomBytes(64 * 1024 + 7));
  // Background flushes every 1 MiB: several run while the 8 MiB arrive.
  await pipeline(Readable.from(chunks), await durableWriteStream(path, { mode: 0o600, highWaterMark: 1024 * 1024, flushBytes: 1024 * 1024 }));
  const written = await readFile(path);
  t.equal(written.length, chunks.reduce((n, c) => n + c.length, 0));
  t.equal(sha(written), sha(Buffer.concat(chunks)), 'the same bytes, in order');
  t.equal((await stat(path)).mode & 0o777, 0o600);
});

t.test('a write the disk refuses fails the stream', async (t) => {
  // /dev/full takes the open and refuses every write (ENOSPC), as a full disk does.
  await t.rejects(pipeline(Readable.from([randomBytes(4096)]), await durableWriteStream('/dev/full', { mode: 0o600, highWaterMark: 65536 })), { code: 'ENOSPC' });
});

t.test('a file that cannot be created is refused before any byte', async (t) => {
  await t.rejects(durableWriteStream(join(tmpdir(), 'no-such-folder-coreflow', 'x'), { mode: 0o600, highWaterMark: 65536 }), { code: 'ENOENT' });
});
