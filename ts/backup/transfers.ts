import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { CoreflowError } from '../errors.ts';
import { bearerMatches } from '../server/bearer-auth.ts';
import { HttpError, type Router } from '../server/http-router.ts';
import type { ArchiveStore, StoredArchive } from './archive-store.ts';

/** Where job tasks send archives (an HTTP upgrade, then the raw tar) and fetch them (GET). */
export const TRANSFER_PATH = '/v1/backups/transfer';

/** The header a snapshot task may send with its estimate of the archive size, in KiB (du -sk). */
export const ESTIMATE_HEADER = 'x-coreflow-estimate-kib';

interface GrantState {
  kind: 'upload' | 'download';
  token: string;
  used: boolean;
  abort: AbortController;
  onBytes: (done: number, total: number | undefined) => void;
  /** Uploads: settles with the stored archive. */
  settle?: { resolve: (a: StoredArchive) => void; reject: (err: unknown) => void };
  /** Downloads: the archive served. */
  archive?: StoredArchive;
}

/** One transfer a job task is allowed to make: its URL path and query, and its one-time token. */
export interface TransferGrant {
  id: string;
  /** Path and query to request on the agent's internal server. */
  path: string;
  token: string;
  /** Ends the grant: its URL answers 401 from now on, a transfer in flight is aborted. */
  close: () => void;
}

/**
 * Per-transfer grants on the agent's internal server. Each grant is one URL with a random id and
 * a random bearer token, valid for one transfer, until it is closed. Uploads are streamed to the
 * archive store (never buffered); downloads are sent from it with their recorded length (a file
 * of another size is cut short). A download's digest is the restore's to check, before it offers
 * the grant: archives are written once, under their digest.
 */
export class Transfers {
  private readonly grants = new Map<string, GrantState>();

  constructor(private readonly store: ArchiveStore) {}

  get open(): number {
    return this.grants.size;
  }

  private grant(state: Omit<GrantState, 'token' | 'used' | 'abort'>): TransferGrant & { abort: AbortSignal } {
    const id = randomBytes(12).toString('hex');
    const token = randomBytes(32).toString('hex');
    const abort = new AbortController();
    this.grants.set(id, { ...state, token, used: false, abort });
    return {
      id,
      token,
      path: `${TRANSFER_PATH}?id=${id}`,
      abort: abort.signal,
      close: () => {
        const t = this.grants.get(id);
        this.grants.delete(id);
        t?.abort.abort(new CoreflowError('COREFLOW_ERR_BACKUP_TRANSFER', { details: 'the transfer was closed before it finished' }));
        t?.settle?.reject(new CoreflowError('COREFLOW_ERR_BACKUP_TRANSFER', { details: 'no archive was received' }));
      },
    };
  }

  /** A grant to upload one archive; `result` settles when it is stored (or fails, or the grant closes). */
  expectUpload(onBytes: (done: number, total: number | undefined) => void = () => undefined): TransferGrant & { result: Promise<StoredArchive> } {
    let settle!: GrantState['settle'];
    const result = new Promise<StoredArchive>((resolve, reject) => (settle = { resolve, reject }));
    result.catch(() => undefined);
    return { ...this.grant({ kind: 'upload', onBytes, settle }), result };
  }

  /** A grant to download one stored archive. */
  offerDownload(archive: StoredArchive, onBytes: (done: number, total: number | undefined) => void = () => undefined): TransferGrant {
    return this.grant({ kind: 'download', onBytes, archive });
  }

  private take(req: IncomingMessage, kind: GrantState['kind']): GrantState | undefined {
    const id = new URL(req.url ?? '/', 'http://localhost').searchParams.get('id') ?? '';
    const t = this.grants.get(id);
    if (!t || t.kind !== kind || t.used || !bearerMatches(req.headers.authorization, t.token)) return undefined;
    t.used = true;
    return t;
  }

  /** The upgrade handler of TRANSFER_PATH: the bytes after the request head are the archive. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const t = this.take(req, 'upload');
    if (!t?.settle) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const settle = t.settle;
    const kib = Number(req.headers[ESTIMATE_HEADER]);
    const estimate = Number.isFinite(kib) && kib >= 0 ? kib * 1024 : undefined;
    // The socket itself is the body: the bytes read with the request head go back in front.
    if (head.length > 0) socket.unshift(head);
    socket.on('close', () => {
      if (!socket.readableEnded) socket.destroy(new Error('the connection closed before the archive ended'));
    });
    this.store.receive(socket as Duplex & Readable, { signal: t.abort.signal, onBytes: (n) => t.onBytes(n, estimate) }).then(
      (stored) => {
        socket.end(`HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${stored.digest}\n`);
        settle.resolve(stored);
      },
      (err: unknown) => {
        socket.end('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        settle.reject(err);
      },
    );
  };

  /** GET TRANSFER_PATH?id=: the archive of a download grant, with its length. */
  register(router: Router): void {
    router.add('GET', TRANSFER_PATH, async (req, res) => this.serve(req, res));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t = this.take(req, 'download');
    if (!t?.archive) throw new HttpError(401, 'unknown, used or closed transfer, or a wrong token');
    const { digest, size } = t.archive;
    res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': size });
    // A closed grant cuts the response, even one waiting on a reader that stopped reading.
    const cut = () => res.destroy();
    t.abort.signal.addEventListener('abort', cut, { once: true });
    try {
      await this.store.send(digest, size, res, { signal: t.abort.signal, onBytes: (n) => t.onBytes(n, size) });
      res.end();
    } catch {
      // The reader sees the response end before its length: a failed transfer, never a short archive.
      res.destroy();
    } finally {
      t.abort.signal.removeEventListener('abort', cut);
    }
  }
}
