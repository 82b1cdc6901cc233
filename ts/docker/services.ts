import type Docker from 'dockerode';
import { isCoreflowError } from '../errors.ts';
import type { Action, RunContext, Step } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { cachedNetworks, listNetworks, type LiveNetwork } from './networks.ts';
import { verifyImageAccess } from './registry-auth.ts';
import type { RawService } from './raw-types.ts';
import { dockerRequest } from './request.ts';
import { cachedSecrets, externalSecretNames, ownedSecretIds, withSecretIds } from './secrets.ts';
import type { DesiredService, LiveService, ServiceRole } from './service-model.ts';
import { planServices, type ServicePayload } from './service-plan.ts';

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
export async function listLiveServices(docker: Docker, networks: () => Promise<LiveNetwork[]> = () => listNetworks(docker), signal?: AbortSignal): Promise<LiveService[]> {
  const [raw, nets] = await Promise.all([dockerRequest<RawService[]>(docker, { method: 'GET', path: '/services', ...(signal ? { signal } : {}) }), networks()]);
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
export async function updateService(docker: Docker, id: string, version: number, d: DesiredService, signal?: AbortSignal): Promise<void> {
  let v = version;
  for (let attempt = 0; ; attempt++) {
    try {
      await dockerRequest(docker, {
        method: 'POST',
        path: `/services/${id}/update`,
        query: { version: v },
        body: d.spec,
        ...(d.registryAuth ? { registryAuth: d.registryAuth } : {}),
        ...(signal ? { signal } : {}),
      });
      return;
    } catch (err) {
      if (!isVersionConflict(err) || attempt >= MAX_CONFLICT_RETRIES) throw err;
      const fresh = await dockerRequest<RawService>(docker, { method: 'GET', path: `/services/${id}`, ...(signal ? { signal } : {}) });
      v = fresh.Version.Index;
    }
  }
}

/** What the services step reads: the services, and for workloads the IDs of this cluster's secrets. */
export interface ServicesLive {
  services: LiveService[];
  /** Owned secret IDs by name (workload services mount them); empty for base services. */
  secretIds: ReadonlyMap<string, string>;
}

/**
 * What a create or update needs beyond the desired spec, checked only then (a no-op run pays
 * nothing): the registry must accept the credentials for the image, and the secrets it mounts
 * get their IDs from the run's list. Either failing fails this service alone.
 */
async function prepareForApply(docker: Docker, d: DesiredService, secretIds: ReadonlyMap<string, string>, signal: AbortSignal): Promise<DesiredService> {
  if (d.pullCheck) await verifyImageAccess(docker, d.pullCheck, d.registryAuth, signal);
  return { ...d, spec: withSecretIds(d.spec, secretIds) };
}

export async function applyServiceAction(docker: Docker, action: Action, live: ServicesLive, signal: AbortSignal): Promise<void> {
  const { desired: planned, live: current } = action.payload as ServicePayload;
  const desired = planned && (action.type === 'create' || action.type === 'update') ? await prepareForApply(docker, planned, live.secretIds, signal) : planned;
  if (action.type === 'create' && desired) {
    await dockerRequest(docker, {
      method: 'POST',
      path: '/services/create',
      body: desired.spec,
      ...(desired.registryAuth ? { registryAuth: desired.registryAuth } : {}),
      signal,
    });
  } else if (action.type === 'update' && desired && current) {
    await updateService(docker, current.id, current.version, desired, signal);
  } else if (action.type === 'delete' && current) {
    await dockerRequest(docker, { method: 'DELETE', path: `/services/${current.id}`, signal });
  }
}

/** Service creates, updates and removals in flight at once in one run. */
export const SERVICE_APPLY_CONCURRENCY = 8;

export interface ServiceStepOptions {
  kind: string;
  role: ServiceRole;
  dependsOn: string[];
  /** The desired services of this role, from the run's model. */
  desired: (spec: ClusterSpec, ctx: Pick<RunContext, 'model'>) => DesiredService[];
  /** Work the model needs before the step plans (resolving image tags), done beside the live reads. */
  prepare?: (ctx: RunContext) => Promise<void>;
  /** Services held back after an automatic rollback: their held desired hash by name. */
  held?: (name: string) => string | undefined;
}

/** A chain step for one role of services (base or workload). */
export function servicesStep(docker: Docker, opts: ServiceStepOptions): Step<ServicesLive> {
  return {
    kind: opts.kind,
    dependsOn: opts.dependsOn,
    objectFailuresBlockDependents: opts.role === 'base',
    // Services are independent of each other; the engine takes several writes at once.
    applyConcurrency: SERVICE_APPLY_CONCURRENCY,
    async observe(ctx) {
      // The image tags are resolved (prepare) before the model is read, here or in plan.
      const [services] = await Promise.all([ctx.cache.get('services', () => listLiveServices(docker, () => cachedNetworks(docker, ctx), ctx.signal)), opts.prepare?.(ctx)]);
      if (opts.role === 'base' && !opts.desired(ctx.spec, ctx).some((d) => d.spec.TaskTemplate.ContainerSpec.Secrets?.length)) return { services, secretIds: new Map() };
      return { services, secretIds: ownedSecretIds(await cachedSecrets(docker, ctx), ctx.spec.cluster.name, externalSecretNames(ctx.spec)) };
    },
    plan: (spec, live, ctx) =>
      planServices(opts.desired(spec, ctx), live.services, {
        cluster: spec.cluster.name,
        role: opts.role,
        guard: opts.role === 'workload',
        allowMassDeletion: ctx.confirmMassDeletion || spec.guards.allowMassDeletion,
        ...(opts.held ? { held: opts.held } : {}),
      }),
    apply: (action, ctx, live) => applyServiceAction(docker, action, live, ctx.signal),
  };
}
