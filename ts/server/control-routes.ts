import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoreflowError, isCoreflowError, type ErrorCode } from '../errors.ts';
import type { PendingPlan } from '../reconcile/approvals.ts';
import type { RunResult } from '../reconcile/types.ts';
import { requireOperatorToken } from './operator-auth.ts';
import { HttpError, readJson, sendJson, type Router } from './http-router.ts';

/** What the operator endpoints act on (the agent provides it). */
export interface OperatorControls {
  /** COREFLOW_API_TOKEN; unset: every endpoint that changes something answers 401. */
  token: string | undefined;
  pendingPlan(): PendingPlan | undefined;
  approve(planId: string): Promise<RunResult>;
  /** Suspends or resumes a workload service; resolves whether that changed anything. */
  setSuspended(service: string, suspended: boolean): Promise<boolean>;
  /** Run-time suspensions (`service/NAME`). */
  suspended(): readonly string[];
}


/** Answers a CoreflowError with its code and parameters, so a client rebuilds the same error. */
function sendError(res: ServerResponse, status: number, err: CoreflowError, extra: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: err.message, code: err.code, params: err.params, ...extra });
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = { COREFLOW_ERR_PLAN_STALE: 409, COREFLOW_ERR_PLAN_UNKNOWN: 404, COREFLOW_ERR_TARGET_UNKNOWN: 404 };

async function stringField(req: IncomingMessage, field: string): Promise<string> {
  const body = await readJson(req, 64 * 1024);
  const value = (body as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || value === '') throw new HttpError(400, `${field}: expected a non-empty string`);
  return value;
}

/**
 * The operator endpoints of the internal server. Reading is open like /v1/status; changing needs
 * `Authorization: Bearer <COREFLOW_API_TOKEN>`:
 * - GET  /v1/plans    the plan waiting for approval ({ plan: null } when none) and the suspensions
 * - POST /v1/approve  { planId }: applies that plan exactly; 200 with the run, 400
 *                     COREFLOW_ERR_PLAN_UNKNOWN, 409 COREFLOW_ERR_PLAN_STALE (with the new plan)
 * - POST /v1/suspend  { service } / POST /v1/resume { service }
 */
export function registerControlRoutes(router: Router, controls: OperatorControls): void {
  router.add('GET', '/v1/plans', (_req, res) => sendJson(res, 200, { plan: controls.pendingPlan() ?? null, suspended: controls.suspended() }));
  router.add('POST', '/v1/approve', async (req, res) => {
    requireOperatorToken(req, controls.token);
    const planId = await stringField(req, 'planId');
    try {
      const run = await controls.approve(planId);
      sendJson(res, 200, { approved: planId, run: { runId: run.runId, status: run.status, summary: run.summary } });
    } catch (err) {
      const status = isCoreflowError(err) ? STATUS_OF[err.code] : undefined;
      if (!status || !isCoreflowError(err)) throw err;
      sendError(res, status, err, { plan: controls.pendingPlan() ?? null });
    }
  });
  for (const [path, suspended] of [['/v1/suspend', true], ['/v1/resume', false]] as const) {
    router.add('POST', path, async (req, res) => {
      requireOperatorToken(req, controls.token);
      const service = await stringField(req, 'service');
      let changed: boolean;
      try {
        changed = await controls.setSuspended(service, suspended);
      } catch (err) {
        if (!isCoreflowError(err, 'COREFLOW_ERR_TARGET_UNKNOWN')) throw err;
        return sendError(res, 404, err);
      }
      sendJson(res, 200, { service, suspended, changed });
    });
  }
}

/** The error the agent answers for a suspension of a service the desired state does not have. */
export function unknownServiceError(service: string, known: readonly string[]): CoreflowError {
  return new CoreflowError('COREFLOW_ERR_TARGET_UNKNOWN', { target: `service/${service}`, details: `no service "${service}" in the desired state (services: ${known.join(', ') || 'none'})` });
}
