import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoreflowError, errorText } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { durableWriteStream } from '../fs/durable-write-stream.ts';
import { fsyncDir } from '../fs/fsync.ts';
import { sendFile } from '../fs/send-file.ts';
import { sha256OfFile } from '../fs/file-sha256.ts';
import { backupManifestSchema, type BackupManifest } from './manifest.ts';

/**
 * Bytes buffered between the hops of an archive stream (socket, hash, file). The 16 KiB default
 * pauses the socket after nearly every chunk; 1 MiB keeps it flowing, and bounds memory per stream.
 */
const BUFFER_BYTES = 1024 * 1024;

/** A tar archive ends with two 512-byte blocks of zeros; a stream cut short does not. */
const TAR_END = 1024;

/** What an archive stream turned into once stored. */
export interface StoredArchive {
  digest: string;
  size: number;
}

/**
 * A Transform that hashes what passes through, counts it and keeps its last TAR_END bytes,
 * without holding more than one chunk.
 */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  tail = Buffer.alloc(0);

  constructor(private readonly onBytes?: (n: number) => void) {
    super({ highWaterMark: BUFFER_BYTES });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.tail = Buffer.concat([this.tail, chunk.subarray(Math.max(0, chunk.length - TAR_END))]).subarray(-TAR_END);
    this.onBytes?.(this.size);
    done(null, chunk);
  }
}

/**
 * The backup directory: archives content-addressed by their sha256 (`objects/<hex>.tar`, written
 * once, shared by every backup with the same content), manifests (`manifests/<id>.json`, written
 * atomically) and `incoming/` for archives being received. An archive is streamed to disk: memory
 * use does not grow with its size.
 */
export class ArchiveStore {
  /** Archives received whose manifest is not saved yet: delete() keeps them. */
  private readonly pending = new Set<string>();

  constructor(readonly dir: string) {}

  private get objects(): string {
    return join(this.dir, 'objects');
  }

  private get manifests(): string {
    return join(this.dir, 'manifests');
  }

  objectPath(digest: string): string {
    return join(this.objects, `${digest.replace(/^sha256:/, '')}.tar`);
  }

  /** Writes the stored archive to `out` (not ended); fails unless it has `size` bytes. */
  send(digest: string, size: number, out: Writable, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<void> {
    return sendFile(this.objectPath(digest), out, { bytes: size, ...opts });
  }

  /**
   * Streams a tar archive to disk, hashing it on the way. Resolves with its digest and size once it
   * is complete under objects/; a stream that fails, is aborted or does not end like a tar archive
   * leaves nothing behind (COREFLOW_ERR_BACKUP_TRANSFER).
   */
  async receive(source: Readable, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<StoredArchive> {
    await mkdir(join(this.dir, 'incoming'), { recursive: true });
    await mkdir(this.objects, { recursive: true });
    const tmp = join(this.dir, 'incoming', `${randomBytes(8).toString('hex')}.part`);
    const hasher = new Hasher(opts.onBytes);
    try {
      await pipeline(source, hasher, await durableWriteStream(tmp, { mode: 0o600, highWaterMark: BUFFER_BYTES }), opts.signal ? { signal: opts.signal } : {});
      if (hasher.size < TAR_END || hasher.tail.some((b) => b !== 0)) {
        throw new Error(`the archive ends after ${hasher.size} bytes without the end-of-archive blocks (cut short?)`);
      }
      const digest = `sha256:${hasher.hash.digest('hex')}`;
      this.pending.add(digest);
      // The archive is on disk (the stream's end), and so is its name, before it is called stored:
      // a manifest (written durably) must never name an archive that a power loss could lose.
      await rename(tmp, this.objectPath(digest));
      await fsyncDir(this.objects);
      return { digest, size: hasher.size };
    } catch (err) {
      // Also when the file could not even be opened: the sender must not wait on a reader that is gone.
      source.destroy();
      await rm(tmp, { force: true });
      throw err instanceof CoreflowError ? err : new CoreflowError('COREFLOW_ERR_BACKUP_TRANSFER', { details: errorText(err) }, { cause: err });
    }
  }

  /**
   * Reads the stored archive again and compares its sha256 with `digest`: a missing file is
   * COREFLOW_ERR_BACKUP_ARCHIVE_MISSING, different content COREFLOW_ERR_BACKUP_DIGEST.
   */
  async verify(digest: string, signal?: AbortSignal): Promise<void> {
    const path = this.objectPath(digest);
    if (!(await this.has(digest))) throw new CoreflowError('COREFLOW_ERR_BACKUP_ARCHIVE_MISSING', { digest, path });
    const actual = `sha256:${await sha256OfFile(path, signal)}`;
    if (actual !== digest) throw new CoreflowError('COREFLOW_ERR_BACKUP_DIGEST', { path, expected: digest, actual });
  }

  async has(digest: string): Promise<boolean> {
    return stat(this.objectPath(digest)).then((s) => s.isFile(), () => false);
  }

  async save(manifest: BackupManifest): Promise<void> {
    await writeFileAtomic(join(this.manifests, `${manifest.id}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const v of manifest.volumes) this.pending.delete(v.digest);
  }


  /** Every readable manifest, oldest first (by createdAt, then id); unreadable files are skipped. */
  async list(service?: string): Promise<BackupManifest[]> {
    const names = await readdir(this.manifests).catch(() => [] as string[]);
    const out: BackupManifest[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const parsed = backupManifestSchema.safeParse(await readFile(join(this.manifests, name), 'utf8').then(JSON.parse, () => undefined));
      if (parsed.success && (service === undefined || parsed.data.service === service)) out.push(parsed.data);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** The manifest of a backup; COREFLOW_ERR_BACKUP_NOT_FOUND when there is none. */
  async get(id: string): Promise<BackupManifest> {
    const found = /^bk-[0-9a-z-]+$/.test(id) ? (await this.list()).find((m) => m.id === id) : undefined;
    if (!found) throw new CoreflowError('COREFLOW_ERR_BACKUP_NOT_FOUND', { id });
    return found;
  }

  /** An archive received for a backup that is not saved after all: removed unless a backup refers to it. */
  async discard(digest: string): Promise<void> {
    this.pending.delete(digest);
    await this.collect();
  }

  /** Removes a backup's manifest, then every archive no remaining manifest refers to. */
  async delete(id: string): Promise<void> {
    await this.get(id);
    await rm(join(this.manifests, `${id}.json`), { force: true });
    await this.collect();
  }

  private async collect(): Promise<void> {
    const kept = new Set([...(await this.list()).flatMap((m) => m.volumes.map((v) => v.digest)), ...this.pending].map((d) => d.replace(/^sha256:/, '')));
    for (const file of await readdir(this.objects).catch(() => [] as string[])) {
      if (file.endsWith('.tar') && !kept.has(file.slice(0, -4))) await rm(join(this.objects, file), { force: true });
    }
  }
}
