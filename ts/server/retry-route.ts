import type { RunResult } from '../reconcile/types.ts';
import { requireOperatorToken } from './operator-auth.ts';
import { HttpError, sendJson, type Router } from './http-router.ts';

export const RETRY_PATH = '/v1/retry';

export type RetryObject = (key: string) => Promise<{ object: string; released: boolean; run?: RunResult }>;

/**
 * POST /v1/retry?object=kind/name: an operator's retry of one object (see Agent.retryObject). The
 * answer: the object, whether a hold or a stop of retries was ended, and the run's id, status and
 * summary. A missing or unknown object is a 400 with its code. Behind the operator token like the
 * other endpoints that change things.
 */
export function registerRetryRoute(router: Router, token: string | undefined, retry: RetryObject): void {
  router.add('POST', RETRY_PATH, async (req, res, url) => {
    requireOperatorToken(req, token);
    const object = url.searchParams.get('object') ?? '';
    if (!/^[a-z-]+\/[^/]+$/.test(object)) throw new HttpError(400, 'object: expected kind/name, e.g. service/web');
    const r = await retry(object);
    sendJson(res, 200, { object: r.object, released: r.released, ...(r.run ? { run: { runId: r.run.runId, status: r.run.status, summary: r.run.summary } } : {}) });
  });
}
