import type { IncomingMessage } from 'node:http';
import { bearerMatches } from './bearer-auth.ts';
import { HttpError } from './http-router.ts';

/**
 * The check of every agent endpoint that changes something (approve, suspend, resume, redeploy,
 * retry, backups): `Authorization: Bearer <COREFLOW_API_TOKEN>`. Without the setting every such
 * endpoint answers 401, saying so; reading endpoints stay open like /v1/status.
 */
export function requireOperatorToken(req: IncomingMessage, token: string | undefined): void {
  if (bearerMatches(req.headers.authorization, token)) return;
  throw new HttpError(401, token ? 'send Authorization: Bearer <COREFLOW_API_TOKEN>' : 'COREFLOW_API_TOKEN is not set on the agent: its operator endpoints are off');
}
