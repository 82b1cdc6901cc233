import { open } from 'node:fs/promises';

/** Flushes a file's data to disk (fsync). */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Makes the entries of a folder durable (a rename into it, a new file). Filesystems that cannot
 * fsync a folder are let be: the rename itself is still atomic there.
 */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncFile(dir).catch(() => undefined);
}
