import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler, Router } from '../server/http-router.ts';
import { HttpError, pathSegment, readJson, sendJson } from '../server/http-router.ts';
import { errorText, isCoreflowError } from '../errors.ts';
import type { AgentHub } from './agent-hub.ts';
import type { DesiredStore } from './desired-store.ts';
import type { EventHub } from './event-hub.ts';
import { bearerMatches } from '../server/bearer-auth.ts';
import { redactDocument } from './redact.ts';
import { serviceImage } from '../docker/image-pin.ts';
import type { Logger } from '../observe/logger.ts';

/** Requires `Authorization: Bearer <token>` (compared in constant time); 401 otherwise. */
function authed(token: string, handler: Handler): Handler {
  return (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (!bearerMatches(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
    }
    return handler(req, res, url);
  };
}

/** The reference control plane's HTTP API (docs/protocol.md): services, update, events. */
export function addHttpApi(router: Router, deps: { token: string; store: DesiredStore; events: EventHub; agents: AgentHub; log: Logger }): void {
  const { token, store, events, agents, log } = deps;
  router.add(
    'GET',
    '/v1/services',
    authed(token, (_req, res) => sendJson(res, 200, { specHash: store.current.hash, desired: redactDocument(store.document) })),
  );
  router.add(
    'PATCH',
    '/v1/services/update',
    authed(token, async (req, res) => {
      const body = await readJson(req);
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'expected a JSON object { "service": {...} }');
      const extra = Object.keys(body).filter((k) => k !== 'service');
      if (extra.length > 0 || !('service' in body)) {
        const errors = [...extra.map((k) => `${k}: unknown key`), ...('service' in body ? [] : ['service: required'])];
        sendJson(res, 400, { error: 'the service update is invalid; nothing was changed', errors });
        return;
      }
      const outcome = await store.updateService((body as { service: unknown }).service);
      if (!outcome.ok && outcome.tooLarge) {
        const { size, limit } = outcome.tooLarge.params;
        sendJson(res, 413, { error: outcome.tooLarge.message, code: outcome.tooLarge.code, size, limit });
        return;
      }
      if (!outcome.ok) {
        sendJson(res, 400, { error: 'the service update is invalid; nothing was changed', errors: outcome.errors });
        return;
      }
      const name = String((body as { service: { name: string } }).service.name);
      let pushed = 0;
      if (outcome.changed) {
        const reason = `service ${name} updated`;
        log.info({ service: name, specHash: outcome.specHash }, 'desired state changed');
        events.publish('state', { reason, specHash: outcome.specHash, desired: redactDocument(store.document) });
        pushed = agents.pushAll(reason);
      }
      sendJson(res, 200, { specHash: outcome.specHash, changed: outcome.changed, agents: pushed });
    }),
  );
  router.add('GET', '/v1/plans', authed(token, (_req, res) => sendJson(res, 200, { plans: agents.plans() })));
  router.add(
    'POST',
    '/v1/plans/{id}/approve',
    authed(token, async (_req, res, url) => {
      const planId = pathSegment(url, 3);
      try {
        sendJson(res, 200, { approved: planId, ...(await agents.approve(planId)) });
      } catch (err) {
        // The agent's refusal keeps its own code (stale: 409, unknown: 404).
        const code = isCoreflowError(err, 'COREFLOW_ERR_REMOTE') ? String(err.params.remoteCode) : isCoreflowError(err) ? err.code : '';
        const status = code === 'COREFLOW_ERR_PLAN_STALE' ? 409 : code === 'COREFLOW_ERR_PLAN_UNKNOWN' ? 404 : 0;
        if (!status) throw err;
        sendJson(res, status, { error: isCoreflowError(err, 'COREFLOW_ERR_REMOTE') ? String(err.params.details) : errorText(err), code, plans: agents.plans() });
      }
    }),
  );
  for (const [verb, suspended] of [['suspend', true], ['resume', false]] as const) {
    router.add(
      'POST',
      `/v1/services/{name}/${verb}`,
      authed(token, async (_req, res, url) => {
        const service = pathSegment(url, 3);
        if (suspended && !store.current.spec.services.some((s) => s.name === service)) {
          sendJson(res, 404, { error: `no service "${service}" in the desired state; nothing was changed`, code: 'COREFLOW_ERR_TARGET_UNKNOWN' });
          return;
        }
        sendJson(res, 200, { service, suspended, agents: await agents.setSuspended(service, suspended) });
      }),
    );
  }
  router.add(
    'POST',
    '/v1/services/redeploy',
    authed(token, async (req, res) => {
      const body = (await readJson(req)) as { service?: unknown } | null;
      if (typeof body?.service !== 'string' || body.service === '') throw new HttpError(400, 'expected a JSON object { "service": "NAME" }');
      if (serviceImage(store.current.spec, body.service) === undefined) throw new HttpError(404, `no service ${body.service} in the desired state`);
      log.info({ service: body.service }, 'redeploy asked');
      sendJson(res, 200, { service: body.service, agents: await agents.redeployAll(body.service) });
    }),
  );
  router.add(
    'GET',
    '/v1/events',
    authed(token, (_req, res) => {
      events.follow(res, { type: 'state', data: { reason: 'connected', time: new Date().toISOString(), specHash: store.current.hash, desired: redactDocument(store.document) } });
    }),
  );
}
