import { CoreflowError } from '../errors.ts';
import type { Action } from '../reconcile/types.ts';
import { composeFieldsOnlyLive } from './compose-render.ts';
import { imageChange, liveImage, settlePin } from './image-pin.ts';
import { isOwned, LABEL_HASH, LABEL_ROLE } from './labels.ts';
import type { DesiredService, LiveService, ServiceRole } from './service-model.ts';
import { subsetDiff } from './subset-diff.ts';

export interface ServicePayload {
  desired?: DesiredService;
  live?: LiveService;
}

export interface ServicePlanOptions {
  cluster: string;
  role: ServiceRole;
  /** The mass-deletion guard applies (workload services). */
  guard: boolean;
  allowMassDeletion: boolean;
  /** The desired hash held back after an automatic rollback of this service (see Holds), if any. */
  held?: (name: string) => string | undefined;
}

/** Which fields of the live service differ from the desired one, as short paths. */
export function serviceDiff(desired: DesiredService, live: LiveService): string[] {
  const { Labels: _l, ...rest } = desired.spec;
  const image = desired.spec.TaskTemplate.ContainerSpec.Image;
  const fields = [
    ...subsetDiff(rest, live.spec).map((p) => (p === 'TaskTemplate.ContainerSpec.Image' ? imageChange(liveImage(live), image) : p.replace(/^TaskTemplate\./, ''))),
    ...composeFieldsOnlyLive(desired.spec, live.spec),
  ];
  const { [LABEL_HASH]: _h, ...userLabels } = desired.spec.Labels;
  if (subsetDiff(userLabels, live.spec.Labels ?? {}).length > 0) fields.push('Labels');
  return fields;
}

/**
 * Pure. Creates what is missing, updates in place what changed (hash label) or drifted (a field
 * we set differs live), deletes owned services of this role that are no longer desired, and
 * skips the rest. Services that are not ours are never touched, even with the same name.
 */
export function planServices(desired: readonly DesiredService[], live: readonly LiveService[], opts: ServicePlanOptions): Action<ServicePayload>[] {
  const byName = new Map(live.map((l) => [l.name, l]));
  const actions: Action<ServicePayload>[] = [];
  const kind = opts.role === 'base' ? 'base-service' : 'service';
  for (const planned of desired) {
    const l = byName.get(planned.name);
    const { desired: d, warning, failure } = settlePin(planned, l, opts.cluster);
    const base = {
      kind,
      name: d.name,
      payload: { desired: d, ...(l ? { live: l } : {}) },
      ...(warning ? { warning: warning.message, warningCode: warning.code } : {}),
    };
    if (d.excluded) {
      actions.push({ ...base, type: 'skip', reason: d.excluded });
      continue;
    }
    if (l && !isOwned(l.labels, opts.cluster)) {
      const reason = new CoreflowError('COREFLOW_ERR_NOT_OWNED', { kind: 'service', name: d.name, cluster: opts.cluster }).message;
      actions.push({ ...base, type: 'skip', reason, blocked: { status: 'failed', reason, code: 'COREFLOW_ERR_NOT_OWNED' } });
      continue;
    }
    if (d.invalid) {
      actions.push({ ...base, type: l ? 'update' : 'create', reason: 'invalid record', blocked: { status: 'failed', reason: d.invalid, code: d.invalidCode ?? 'COREFLOW_ERR_SPEC_INVALID' } });
      continue;
    }
    if (failure) {
      // The running service (if any) is left as it is; the others go on.
      actions.push({ ...base, type: l ? 'update' : 'create', reason: 'image tag not resolved', blocked: { status: 'failed', reason: failure.message, code: failure.code } });
      continue;
    }
    if (!l) {
      actions.push({ ...base, type: 'create', reason: 'not present' });
      continue;
    }
    const diff = serviceDiff(d, l);
    if (l.labels[LABEL_HASH] !== d.hash && opts.held?.(d.name) === d.hash) {
      const reason = new CoreflowError('COREFLOW_ERR_UPDATE_ROLLED_BACK', { service: d.name }).message;
      actions.push({ ...base, type: 'update', reason: 'held after a rollback', diff, blocked: { status: 'failed', reason, code: 'COREFLOW_ERR_UPDATE_ROLLED_BACK' } });
    } else if (l.labels[LABEL_HASH] !== d.hash) {
      actions.push({ ...base, type: 'update', reason: 'spec changed', diff: diff.length > 0 ? diff : ['Labels'] });
    } else if (diff.length > 0) {
      actions.push({ ...base, type: 'update', reason: 'drifted: changed outside coreflow', diff });
    } else {
      actions.push({ ...base, type: 'skip', reason: 'unchanged' });
    }
  }
  const wanted = new Set(desired.map((d) => d.name));
  const owned = live.filter((l) => isOwned(l.labels, opts.cluster) && (l.labels[LABEL_ROLE] ?? 'workload') === opts.role);
  const deletes: Action<ServicePayload>[] = owned
    .filter((l) => !wanted.has(l.name))
    .map((l) => ({ kind, name: l.name, type: 'delete', reason: 'no longer desired', payload: { live: l } }));
  if (opts.guard && !opts.allowMassDeletion && deletes.length > 0 && (deletes.length === owned.length || deletes.length > owned.length / 2)) {
    const reason = new CoreflowError('COREFLOW_ERR_MASS_DELETION', { count: deletes.length, total: owned.length, kind: 'workload services' }).message;
    for (const a of deletes) a.blocked = { status: 'blocked', reason, code: 'COREFLOW_ERR_MASS_DELETION' };
  }
  return [...actions, ...deletes];
}
