import type Docker from 'dockerode';
import { isCoreflowError } from '../errors.ts';
import type { Action, Step } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { LABEL_CLUSTER } from './labels.ts';
import { cachedNetworks, listNetworks, type LiveNetwork } from './networks.ts';
import { verifyImageAccess } from './registry-auth.ts';
import { resolveSecretIds } from './secrets.ts';
import { dockerRequest } from './request.ts';
import type { DesiredService, LiveService, ServiceRole } from './service-model.ts';
import { planServices, type ServicePayload } from './service-plan.ts';

interface RawService {
  ID: string;
  Version: { Index: number };
  Spec: Record<string, unknown> & { Name: string; Labels?: Record<string, string>; TaskTemplate?: { Networks?: { Target: string }[] } };
  UpdateStatus?: { State?: string };
}

function toLive(raw: RawService, networkNames: Map<string, string>): LiveService {
  const spec = structuredClone(raw.Spec);
  for (const n of spec.TaskTemplate?.Networks ?? []) n.Target = networkNames.get(n.Target) ?? n.Target;
  return {
    id: raw.ID,
    name: raw.Spec.Name,
    version: raw.Version.Index,
    labels: raw.Spec.Labels ?? {},
    spec,
    ...(raw.UpdateStatus?.State ? { updateState: raw.UpdateStatus.State } : {}),
  };
}

/** All services (one list call, whatever their number) with network IDs mapped to names. */
export async function listLiveServices(docker: Docker, networks: () => Promise<LiveNetwork[]> = () => listNetworks(docker)): Promise<LiveService[]> {
  const [raw, nets] = await Promise.all([dockerRequest<RawService[]>(docker, { method: 'GET', path: '/services' }), networks()]);
  const names = new Map(nets.map((n) => [n.id, n.name]));
  return raw.map((r) => toLive(r, names));
}

const MAX_CONFLICT_RETRIES = 3;

function isVersionConflict(err: unknown): boolean {
  // Swarm answers a stale version with 500 "rpc error: ... update out of sequence".
  return isCoreflowError(err, 'COREFLOW_ERR_DOCKER_API') && /update out of sequence/.test(err.message);
}

/**
 * ServiceUpdate at the version just observed; on a version conflict (someone else updated it
 * meanwhile) inspect again and retry, up to MAX_CONFLICT_RETRIES times. Same service ID always.
 */
export async function updateService(docker: Docker, id: string, version: number, d: DesiredService): Promise<void> {
  let v = version;
  for (let attempt = 0; ; attempt++) {
    try {
      await dockerRequest(docker, {
        method: 'POST',
        path: `/services/${id}/update`,
        query: { version: v },
        body: d.spec,
        ...(d.registryAuth ? { registryAuth: d.registryAuth } : {}),
      });
      return;
    } catch (err) {
      if (!isVersionConflict(err) || attempt >= MAX_CONFLICT_RETRIES) throw err;
      const fresh = await dockerRequest<RawService>(docker, { method: 'GET', path: `/services/${id}` });
      v = fresh.Version.Index;
    }
  }
}

/**
 * What a create or update needs beyond the desired spec, read only then (a no-op run pays
 * nothing): the registry must accept the credentials for the image, and the secrets it mounts
 * get their IDs. Either failing fails this service alone.
 */
async function prepareForApply(docker: Docker, d: DesiredService): Promise<DesiredService> {
  if (d.pullCheck) await verifyImageAccess(docker, d.pullCheck, d.registryAuth);
  const cluster = d.spec.Labels[LABEL_CLUSTER] ?? '';
  return { ...d, spec: await resolveSecretIds(docker, cluster, d.spec) };
}

export async function applyServiceAction(docker: Docker, action: Action): Promise<void> {
  const { desired: planned, live } = action.payload as ServicePayload;
  const desired = planned && (action.type === 'create' || action.type === 'update') ? await prepareForApply(docker, planned) : planned;
  if (action.type === 'create' && desired) {
    await dockerRequest(docker, {
      method: 'POST',
      path: '/services/create',
      body: desired.spec,
      ...(desired.registryAuth ? { registryAuth: desired.registryAuth } : {}),
    });
  } else if (action.type === 'update' && desired && live) {
    await updateService(docker, live.id, live.version, desired);
  } else if (action.type === 'delete' && live) {
    await dockerRequest(docker, { method: 'DELETE', path: `/services/${live.id}` });
  }
}

export interface ServiceStepOptions {
  kind: string;
  role: ServiceRole;
  dependsOn: string[];
  desired: (spec: ClusterSpec) => DesiredService[];
}

/** A chain step for one role of services (base or workload). */
export function servicesStep(docker: Docker, opts: ServiceStepOptions): Step<LiveService[]> {
  return {
    kind: opts.kind,
    dependsOn: opts.dependsOn,
    objectFailuresBlockDependents: opts.role === 'base',
    observe: (ctx) => ctx.cache.get('services', () => listLiveServices(docker, () => cachedNetworks(docker, ctx))),
    plan: (spec, live, ctx) =>
      planServices(opts.desired(spec), live, {
        cluster: spec.cluster.name,
        role: opts.role,
        guard: opts.role === 'workload',
        allowMassDeletion: ctx.confirmMassDeletion || spec.guards.allowMassDeletion,
      }),
    apply: (action) => applyServiceAction(docker, action),
  };
}
