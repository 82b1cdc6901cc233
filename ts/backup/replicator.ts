import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { ArchiveStore } from './archive-store.ts';
import type { BackupManifest } from './manifest.ts';

/** Bytes sent per upload request: an interrupted replication resumes at the last whole chunk. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/** The control plane's HTTP base for a CLOUDLY_URL (ws -> http, wss -> https, no path). */
export function controlPlaneHttpBase(cloudlyUrl: string): string {
  const url = new URL(cloudlyUrl);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  if (url.protocol === 'wss:') url.protocol = 'https:';
  return url.origin;
}

/**
 * Copies backups to the control plane's archive store (docs/backup.md, Replication) and fetches
 * archives back. Uploads are resumable: the control plane says how much of an archive it holds
 * (`/v1/archives/status`) and the upload goes on from there, in chunks of `chunkBytes`, each one
 * request with its own deadline; the control plane checks the sha256 once all bytes are in.
 */
export class Replicator {
  private readonly chunkBytes: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly opts: { baseUrl: string; token: string; store: ArchiveStore; log: Logger; chunkBytes?: number; timeoutMs?: number },
  ) {
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.timeoutMs = opts.timeoutMs ?? 300_000;
  }

  private async call(method: string, path: string, init: { body?: BodyInit; json?: unknown; signal?: AbortSignal } = {}): Promise<Response> {
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs);
    try {
      return await fetch(`${this.opts.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.opts.token}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body !== undefined ? { body: init.body, duplex: 'half' } : {}),
        signal,
      } as RequestInit);
    } catch (err) {
      throw new CoreflowError('COREFLOW_ERR_BACKUP_TRANSFER', { details: `${method} ${path} on the control plane: ${errorText(err)}` });
    }
  }

  private async failed(res: Response, what: string): Promise<never> {
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    throw new CoreflowError('COREFLOW_ERR_BACKUP_TRANSFER', { details: `${what}: the control plane answered ${res.status}${body.error ? ` (${body.error})` : ''}` });
  }

  /** Uploads what the control plane lacks of one archive. Resolves with the bytes sent. */
  async upload(digest: string, signal?: AbortSignal): Promise<number> {
    const path = this.opts.store.objectPath(digest);
    const total = (await stat(path)).size;
    const q = `digest=${encodeURIComponent(digest)}`;
    const status = await this.call('GET', `/v1/archives/status?${q}`, signal ? { signal } : {});
    if (!status.ok) await this.failed(status, `status of ${digest}`);
    let { complete, received } = (await status.json()) as { complete: boolean; received: number };
    let sent = 0;
    while (!complete) {
      const end = Math.min(total, received + this.chunkBytes);
      const body = Readable.toWeb(createReadStream(path, { start: received, end: end - 1 })) as unknown as BodyInit;
      const res = await this.call('PUT', `/v1/archives?${q}&offset=${received}&total=${total}`, { body, ...(signal ? { signal } : {}) });
      if (res.status === 409) {
        received = ((await res.json()) as { received: number }).received;
        continue;
      }
      if (!res.ok) await this.failed(res, `upload of ${digest}`);
      sent += end - received;
      ({ complete, received } = (await res.json()) as { complete: boolean; received: number });
    }
    return sent;
  }

  /** Uploads a backup's archives, then its manifest; resolves with the bytes sent. */
  async replicate(manifest: BackupManifest, signal?: AbortSignal): Promise<number> {
    let sent = 0;
    for (const v of manifest.volumes) sent += await this.upload(v.digest, signal);
    const res = await this.call('PUT', `/v1/archives/manifest?id=${encodeURIComponent(manifest.id)}`, { json: manifest, ...(signal ? { signal } : {}) });
    if (!res.ok) await this.failed(res, `manifest of ${manifest.id}`);
    return sent;
  }

  /**
   * Fetches an archive the agent no longer has from the control plane into the store; its sha256
   * must be `digest` (else COREFLOW_ERR_BACKUP_DIGEST, and nothing is kept).
   */
  async fetch(digest: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call('GET', `/v1/archives?digest=${encodeURIComponent(digest)}`, signal ? { signal } : {});
    if (res.status === 404) throw new CoreflowError('COREFLOW_ERR_BACKUP_ARCHIVE_MISSING', { digest, path: `${this.opts.baseUrl} and ${this.opts.store.objectPath(digest)}` });
    if (!res.ok || !res.body) await this.failed(res, `download of ${digest}`);
    const stored = await this.opts.store.receive(Readable.fromWeb(res.body as never), signal ? { signal } : {});
    if (stored.digest !== digest) {
      await this.opts.store.discard(stored.digest);
      throw new CoreflowError('COREFLOW_ERR_BACKUP_DIGEST', { path: `${this.opts.baseUrl}/v1/archives`, expected: digest, actual: stored.digest });
    }
    await this.opts.store.discard(stored.digest).catch(() => undefined);
  }
}
