import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { sha256OfFile } from '../fs/file-sha256.ts';
import { fsyncDir, fsyncFile } from '../fs/fsync.ts';
import { bearerMatches } from '../server/bearer-auth.ts';
import { HttpError, readJson, sendJson, type Router } from '../server/http-router.ts';

export const ARCHIVES_PATH = '/v1/archives';
const DIGEST = /^sha256:([0-9a-f]{64})$/;
const BACKUP_ID = /^bk-[0-9a-z-]+$/;

/** The folder beside the spec file where the reference control plane keeps replicated backups. */
export function vaultDir(specPath: string): string {
  return join(dirname(specPath), `${basename(specPath)}.backups`);
}

/**
 * The reference control plane's store of replicated backup archives (`<spec file>.backups/`):
 * - GET  /v1/archives/status?digest=   `{ complete, received }`: where an interrupted upload resumes
 * - PUT  /v1/archives?digest=&offset=&total=   appends the body at `offset` (which must be what
 *        was received so far, else 409 with `received`); once `total` bytes are in, the sha256 is
 *        checked (a mismatch discards the upload: 422) and the archive is kept as `<hex>.tar`
 * - GET  /v1/archives?digest=           the complete archive (404 when there is none)
 * - PUT  /v1/archives/manifest?id=      a backup's manifest (JSON), GET the same to read it
 * Bodies are streamed to and from disk. Every route needs the control plane's bearer token.
 */
export function addArchiveVault(router: Router, opts: { token: string; dir: string }): void {
  const guard = (req: IncomingMessage) => {
    if (!bearerMatches(req.headers.authorization, opts.token)) throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
  };
  const hexOf = (url: URL) => {
    const m = DIGEST.exec(url.searchParams.get('digest') ?? '');
    if (!m) throw new HttpError(400, 'digest: expected sha256:<64 hex>');
    return m[1]!;
  };
  const size = (path: string) => stat(path).then((s) => s.size, () => undefined);
  const complete = (hex: string) => join(opts.dir, `${hex}.tar`);
  const partial = (hex: string) => join(opts.dir, `${hex}.part`);

  router.add('GET', `${ARCHIVES_PATH}/status`, async (req, res, url) => {
    guard(req);
    const hex = hexOf(url);
    const done = await size(complete(hex));
    sendJson(res, 200, done !== undefined ? { complete: true, received: done } : { complete: false, received: (await size(partial(hex))) ?? 0 });
  });

  router.add('PUT', ARCHIVES_PATH, async (req, res, url) => {
    guard(req);
    const hex = hexOf(url);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const total = Number(url.searchParams.get('total'));
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(total) || total < offset) throw new HttpError(400, 'offset and total: expected whole numbers with offset <= total');
    await mkdir(opts.dir, { recursive: true });
    if ((await size(complete(hex))) !== undefined) {
      req.resume();
      sendJson(res, 200, { complete: true, received: total });
      return;
    }
    const received = (await size(partial(hex))) ?? 0;
    if (received !== offset) {
      req.resume();
      sendJson(res, 409, { error: `the upload is at ${received} bytes, not ${offset}`, code: 'COREFLOW_ERR_HTTP_REQUEST', received });
      return;
    }
    await pipeline(req, createWriteStream(partial(hex), { flags: offset === 0 ? 'w' : 'a' }));
    const now = (await size(partial(hex))) ?? 0;
    if (now < total) {
      sendJson(res, 200, { complete: false, received: now });
      return;
    }
    if (now !== total || (await sha256OfFile(partial(hex))) !== hex) {
      await rm(partial(hex), { force: true });
      sendJson(res, 422, { error: `the archive received (${now} bytes) does not match sha256:${hex} and ${total} bytes; it was discarded`, code: 'COREFLOW_ERR_BACKUP_DIGEST' });
      return;
    }
    await fsyncFile(partial(hex));
    await rename(partial(hex), complete(hex));
    await fsyncDir(opts.dir);
    sendJson(res, 201, { complete: true, received: now });
  });

  router.add('GET', ARCHIVES_PATH, async (req, res, url) => {
    guard(req);
    const path = complete(hexOf(url));
    const bytes = await size(path);
    if (bytes === undefined) throw new HttpError(404, 'no such archive');
    res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': bytes });
    await pipeline(createReadStream(path), res);
  });

  const manifestPath = (url: URL) => {
    const id = url.searchParams.get('id') ?? '';
    if (!BACKUP_ID.test(id)) throw new HttpError(400, 'id: expected a backup id');
    return join(opts.dir, 'manifests', `${id}.json`);
  };
  router.add('PUT', `${ARCHIVES_PATH}/manifest`, async (req, res, url) => {
    guard(req);
    const path = manifestPath(url);
    await writeFileAtomic(path, `${JSON.stringify(await readJson(req), null, 2)}\n`);
    sendJson(res, 200, { stored: true });
  });
  router.add('GET', `${ARCHIVES_PATH}/manifest`, async (req, res, url) => {
    guard(req);
    const path = manifestPath(url);
    if ((await size(path)) === undefined) throw new HttpError(404, 'no such manifest');
    res.writeHead(200, { 'content-type': 'application/json' });
    await pipeline(createReadStream(path), res);
  });
}
