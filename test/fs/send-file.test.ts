import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { sendFile } from '../../ts/fs/send-file.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A destination that keeps what it gets, slowly: each write is acknowledged on a later turn. */
function slowSink(): { sink: Writable; received: () => Buffer } {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(Buffer.from(chunk));
      setImmediate(cb);
    },
  });
  return { sink, received: () => Buffer.concat(parts) };
}

async function fileOf(bytes: number): Promise<{ path: string; data: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-send-'));
  const data = randomBytes(bytes);
  const path = join(dir, 'archive.tar');
  await writeFile(path, data);
  return { path, data };
}

t.test('sends every byte in order, with progress, over many chunks', async (t) => {
  const { path, data } = await fileOf(5 * 512 * 1024 + 123);
  const { sink, received } = slowSink();
  const progress: number[] = [];
  await sendFile(path, sink, { bytes: data.length, onBytes: (n) => progress.push(n) });
  t.equal(sha(received()), sha(data), 'the same bytes, in order: no buffer was read into before its write was done');
  t.equal(progress.at(-1), data.length);
  t.ok(progress.length >= 6, 'progress per chunk');
});

t.test('a file of another size than recorded fails the send', async (t) => {
  const { path, data } = await fileOf(100_000);
  await t.rejects(sendFile(path, slowSink().sink, { bytes: data.length + 1 }), /has 100000 bytes, not the 100001 recorded/);
  await t.rejects(sendFile(path, slowSink().sink, { bytes: data.length - 1 }), /longer than the 99999 bytes recorded/);
});

t.test('an aborted send stops, and a destination that fails fails it', async (t) => {
  const { path, data } = await fileOf(2 * 512 * 1024);
  const ac = new AbortController();
  ac.abort(new Error('the grant was closed'));
  await t.rejects(sendFile(path, slowSink().sink, { bytes: data.length, signal: ac.signal }), /the grant was closed/);
  const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('connection reset')) });
  broken.on('error', () => undefined);
  await t.rejects(sendFile(path, broken, { bytes: data.length }), /connection reset/);
});
