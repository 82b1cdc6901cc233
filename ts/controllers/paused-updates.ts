import type Docker from 'dockerode';
import { CoreflowError, errorLogFields } from '../errors.ts';
import { LABEL_HASH, ownedFilter } from '../docker/labels.ts';
import { dockerRequest } from '../docker/request.ts';
import type { EventBus } from '../observe/events.ts';
import type { Logger } from '../observe/logger.ts';
import type { Holds } from '../reconcile/holds.ts';
import type { Controller } from './manager.ts';

/** What happens to a rolling update that paused on failing tasks. */
export type PausedUpdatePolicy = 'pause' | 'rollback';

export interface PausedService {
  ID: string;
  Version: { Index: number };
  Spec: { Name: string; Labels?: Record<string, string> } & Record<string, unknown>;
  UpdateStatus?: { State?: string; Message?: string; StartedAt?: string };
}

export interface PausedDecision {
  service: PausedService;
  /** `report`: first seen paused; `rollback`: paused for rollbackAfterMs under the rollback policy. */
  action: 'report' | 'rollback';
  policy: PausedUpdatePolicy;
}

/** One paused update: the service and the update (its start), so a later update counts afresh. */
const pauseKey = (s: PausedService) => `${s.ID}@${s.UpdateStatus?.StartedAt ?? ''}`;

/**
 * Pure. What to do about the paused updates among `services`, given when each pause was first
 * seen (`seen`, updated in place: new pauses added, ended ones dropped) and the time now.
 */
export function decidePaused(
  services: readonly PausedService[],
  seen: Map<string, number>,
  now: number,
  policyOf: (service: string) => PausedUpdatePolicy,
  rollbackAfterMs: number,
): PausedDecision[] {
  const decisions: PausedDecision[] = [];
  const current = new Set<string>();
  for (const s of services) {
    if (s.UpdateStatus?.State !== 'paused') continue;
    const key = pauseKey(s);
    current.add(key);
    const policy = policyOf(s.Spec.Name);
    const since = seen.get(key);
    if (since === undefined) {
      seen.set(key, now);
      decisions.push({ service: s, action: 'report', policy });
    }
    if (policy === 'rollback' && now - (since ?? now) >= rollbackAfterMs) decisions.push({ service: s, action: 'rollback', policy });
  }
  for (const key of seen.keys()) if (!current.has(key)) seen.delete(key);
  return decisions;
}

/**
 * Rolls a service back to its previous spec, as `docker service rollback` does: a ServiceUpdate
 * of the current spec at the current version with `rollback=previous`; Docker then applies the
 * previous spec (its own rollback policy) and the service ID stays.
 */
export async function rollbackService(docker: Docker, s: PausedService, signal?: AbortSignal): Promise<void> {
  await dockerRequest(docker, {
    method: 'POST',
    path: `/services/${s.ID}/update`,
    query: { version: s.Version.Index, rollback: 'previous' },
    body: s.Spec,
    ...(signal ? { signal } : {}),
  });
}

export interface PausedUpdatesOptions {
  docker: Docker;
  cluster: () => string | undefined;
  /** The policy of a service: its onPausedUpdate, else the setting. */
  policyOf: (service: string) => PausedUpdatePolicy;
  rollbackAfterMs: number;
  intervalMs: number;
  /** Where a rolled-back service's failed desired hash is held (the planner skips it). */
  holds: Holds;
  bus?: EventBus;
  log: Logger;
  /** Injected clock (ms). */
  now?: () => number;
  /** Wakes the chain after a rollback, so the status shows the hold. */
  trigger?: (reason: string) => void;
}

/**
 * Watches this cluster's services for rolling updates that paused (tasks failing). Each pause is
 * reported once (an `error` event, COREFLOW_ERR_UPDATE_PAUSED). Under the rollback policy, a pause
 * that lasts rollbackAfterMs is rolled back, reported (COREFLOW_ERR_UPDATE_ROLLED_BACK), and the
 * failed desired state is held so the chain does not start the same update again; under the pause
 * policy the update stays paused for an operator. One list call per run.
 */
export class PausedUpdatesController implements Controller {
  readonly name = 'paused-updates';
  readonly intervalMs: number;
  private readonly seen = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: PausedUpdatesOptions) {
    this.intervalMs = opts.intervalMs;
    this.now = opts.now ?? Date.now;
  }

  async reconcile(signal?: AbortSignal): Promise<number> {
    const cluster = this.opts.cluster();
    if (!cluster) return 0;
    const services = await dockerRequest<PausedService[]>(this.opts.docker, {
      method: 'GET',
      path: '/services',
      query: { filters: JSON.stringify(ownedFilter(cluster)) },
      ...(signal ? { signal } : {}),
    });
    const decisions = decidePaused(services, this.seen, this.now(), this.opts.policyOf, this.opts.rollbackAfterMs);
    for (const d of decisions) {
      const name = d.service.Spec.Name;
      if (d.action === 'report') {
        const what = d.policy === 'rollback' ? `rolled back after ${this.opts.rollbackAfterMs / 1000} s if still paused` : 'stays paused (policy pause); roll back or fix the spec';
        const err = new CoreflowError('COREFLOW_ERR_UPDATE_PAUSED', { service: name, details: `${d.service.UpdateStatus?.Message ?? 'tasks failing'}; ${what}` });
        this.opts.log.warn({ service: name, policy: d.policy }, err.message);
        this.opts.bus?.emit({ type: 'error', resourceType: this.name, kind: 'service', name, summary: err.message, code: err.code, details: { policy: d.policy } });
        continue;
      }
      try {
        await rollbackService(this.opts.docker, d.service, signal);
      } catch (err) {
        this.opts.log.warn({ service: name, ...errorLogFields(err) }, 'rollback of a paused update failed; tried again at the next interval');
        continue;
      }
      this.seen.delete(pauseKey(d.service));
      const hash = d.service.Spec.Labels?.[LABEL_HASH];
      if (hash) this.opts.holds.hold(`service/${name}`, hash);
      const done = new CoreflowError('COREFLOW_ERR_UPDATE_ROLLED_BACK', { service: name });
      this.opts.log.warn({ service: name }, done.message);
      this.opts.bus?.emit({ type: 'error', resourceType: this.name, kind: 'service', name, summary: done.message, code: done.code, details: { policy: 'rollback' } });
      this.opts.trigger?.(`rolled back ${name}`);
    }
    return services.length;
  }
}
