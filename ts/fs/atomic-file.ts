import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CoreflowError, errorText } from '../errors.ts';
import { fsyncDir } from './fsync.ts';

/**
 * Replaces `path` with `text` so that a crash at any moment leaves either the old or the new
 * file, never a torn one: write a temporary file beside it, fsync it, rename it over the target,
 * then fsync the folder so the rename itself is durable. Throws COREFLOW_ERR_STATE_WRITE (the old
 * file is intact then). `mode` applies to a newly written file (default 0600: state may be private).
 */
export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new CoreflowError('COREFLOW_ERR_STATE_WRITE', { path, details: errorText(err) }, { cause: err });
  }
}
