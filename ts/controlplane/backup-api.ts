import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isCoreflowError } from '../errors.ts';
import { remoteCode } from '../protocol/peer.ts';
import { bearerMatches } from '../server/bearer-auth.ts';
import { HttpError, readJson, sendJson, type Router } from '../server/http-router.ts';
import type { AgentHub } from './agent-hub.ts';

const backupBody = z.strictObject({ service: z.string().min(1), volume: z.string().min(1).optional() });
const restoreBody = z.strictObject({ backupId: z.string().min(1), volume: z.string().min(1).optional(), toVolume: z.string().min(1).optional() });

/**
 * The reference control plane's backup triggers: `POST /v1/backups {service, volume?}` and
 * `POST /v1/backups/restore {backupId, volume?, toVolume?}` call executeServiceBackup /
 * executeServiceRestore on the connected agent and answer 202 with its answer (the id); the
 * progress and the end come back in the agent's reports (`report` events on /v1/events).
 * 503 without an agent; the agent's refusal is 400 with its code.
 */
export function addBackupApi(router: Router, opts: { token: string; agents: AgentHub }): void {
  const parse = async <T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> => {
    if (!bearerMatches(req.headers.authorization, opts.token)) throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
    const parsed = schema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return parsed.data;
  };
  /** The agent's answer (202), its refusal with its code (400), or 503 without an agent. */
  const forward = async (res: ServerResponse, call: () => Promise<unknown>): Promise<void> => {
    let answer: unknown;
    try {
      answer = await call();
    } catch (err) {
      if (isCoreflowError(err, 'COREFLOW_ERR_REMOTE') && remoteCode(err)) return sendJson(res, 400, { error: err.message, code: remoteCode(err) });
      throw err;
    }
    if (answer === undefined) throw new HttpError(503, 'no agent is connected');
    sendJson(res, 202, answer);
  };
  router.add('POST', '/v1/backups', async (req, res) => {
    const body = await parse(req, backupBody);
    await forward(res, () => opts.agents.requestAgent('executeServiceBackup', body));
  });
  router.add('POST', '/v1/backups/restore', async (req, res) => {
    const body = await parse(req, restoreBody);
    await forward(res, () => opts.agents.requestAgent('executeServiceRestore', body));
  });
}
