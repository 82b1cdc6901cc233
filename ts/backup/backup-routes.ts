import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { requireOperatorToken } from '../server/operator-auth.ts';
import { HttpError, readJson, sendJson, type Router } from '../server/http-router.ts';
import type { BackupManager } from './backup-manager.ts';

export const BACKUPS_PATH = '/v1/backups';

const createBody = z.strictObject({ service: z.string().min(1), volume: z.string().min(1).optional() });
const restoreBody = z.strictObject({ backupId: z.string().min(1), volume: z.string().min(1).optional(), toVolume: z.string().min(1).optional() });

async function body<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await readJson(req));
  if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}

/**
 * The backup API of the internal server; every route needs `Authorization: Bearer
 * <COREFLOW_API_TOKEN>` (none is accepted while the token is unset):
 * - GET    /v1/backups[?service=]            the backups, oldest first
 * - POST   /v1/backups {service, volume?}    starts a backup: 202 {backupId, operation}
 * - DELETE /v1/backups?id=                   removes a backup (and archives nothing else uses)
 * - POST   /v1/backups/restore {backupId, volume?, toVolume?}   starts a restore: 202 {restoreId, operation}
 * - GET    /v1/backups/operations?id=[&wait=MS] a backup's or restore's progress and outcome; with
 *                                            wait, answered when it ends or after MS (at most 30000)
 * Bad input is answered 400 with the catalogue code before anything starts.
 */
/** The longest a progress request may wait for an operation to end. */
const MAX_WAIT_MS = 30_000;

export function registerBackupRoutes(router: Router, manager: BackupManager, opts: { apiToken: string | undefined }): void {
  const guard = (req: IncomingMessage) => requireOperatorToken(req, opts.apiToken);
  router.add('GET', BACKUPS_PATH, async (req, res, url) => {
    guard(req);
    sendJson(res, 200, { backups: await manager.list(url.searchParams.get('service') ?? undefined) });
  });
  router.add('POST', BACKUPS_PATH, async (req, res) => {
    guard(req);
    const b = await body(req, createBody);
    const started = await manager.backup(b.service, { ...(b.volume ? { volume: b.volume } : {}), reason: 'manual' });
    sendJson(res, 202, { backupId: started.operation.id, operation: started.operation });
  });
  router.add('DELETE', BACKUPS_PATH, async (req, res, url) => {
    guard(req);
    const id = url.searchParams.get('id');
    if (!id) throw new HttpError(400, 'id: expected the id of a backup (?id=)');
    await manager.delete(id);
    sendJson(res, 200, { deleted: id });
  });
  router.add('POST', `${BACKUPS_PATH}/restore`, async (req, res) => {
    guard(req);
    const b = await body(req, restoreBody);
    const started = await manager.restore(b.backupId, { ...(b.volume ? { volume: b.volume } : {}), ...(b.toVolume ? { toVolume: b.toVolume } : {}) });
    sendJson(res, 202, { restoreId: started.operation.id, operation: started.operation });
  });
  router.add('GET', `${BACKUPS_PATH}/operations`, async (req, res, url) => {
    guard(req);
    const wait = url.searchParams.get('wait') ?? '0';
    if (!/^\d{1,5}$/.test(wait) || Number(wait) > MAX_WAIT_MS) throw new HttpError(400, `wait: expected milliseconds from 0 to ${MAX_WAIT_MS}, got "${wait}"`);
    const op = await manager.operationWhenDone(url.searchParams.get('id') ?? '', Number(wait));
    if (!op) throw new HttpError(404, 'no such operation (finished operations are kept while the agent runs, the last 100)');
    sendJson(res, 200, op);
  });
}
