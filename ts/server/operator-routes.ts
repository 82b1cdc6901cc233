import { isCoreflowError } from '../errors.ts';
import type { RedeployAnswer } from '../protocol/methods.ts';
import { requireOperatorToken } from './operator-auth.ts';
import { HttpError, readJson, sendJson, type Router } from './http-router.ts';

export const REDEPLOY_PATH = '/v1/redeploy';

export interface OperatorRoutesOptions {
  /** COREFLOW_API_TOKEN; unset: every operator endpoint answers 401. */
  token: string | undefined;
  redeploy: (service: string) => Promise<RedeployAnswer>;
}

/**
 * The agent's endpoints that change things, each behind `Authorization: Bearer <COREFLOW_API_TOKEN>`
 * (compared in constant time; refused when no token is configured):
 * - POST /v1/redeploy `{ "service": NAME }`: asks the registry for the service's tag again now and
 *   runs the chain; answers what the run did to that service (404 for a service not in the spec).
 */
export function registerOperatorRoutes(router: Router, opts: OperatorRoutesOptions): void {
  router.add('POST', REDEPLOY_PATH, async (req, res) => {
    requireOperatorToken(req, opts.token);
    const body = (await readJson(req)) as { service?: unknown } | null;
    if (typeof body?.service !== 'string' || body.service === '') throw new HttpError(400, 'service: expected the name of a service');
    try {
      sendJson(res, 200, await opts.redeploy(body.service));
    } catch (err) {
      if (isCoreflowError(err, 'COREFLOW_ERR_SERVICE_UNKNOWN')) throw new HttpError(404, err.message);
      throw err;
    }
  });
}
