import type Docker from 'dockerode';
import { CoreflowError } from '../errors.ts';
import type { Action, RunContext, Step } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import type { DockerModelOf } from './desired-model.ts';
import { isOwned, LABEL_SERVICE, ownershipLabels } from './labels.ts';
import type { RawSecret } from './raw-types.ts';
import { dockerRequest } from './request.ts';
import type { DockerServiceSpec } from './service-model.ts';
import type { PlatformValues, WorkloadSecret } from './secret-content.ts';
import { renderWorkloads } from './workload.ts';

/** The label on an owned secret naming the service it belongs to. */
export const LABEL_SECRET_SERVICE = LABEL_SERVICE;

export interface LiveSecret {
  id: string;
  name: string;
  labels: Record<string, string>;
}

/**
 * The run's list of every secret, metadata only (Docker never returns a secret's data): one call,
 * shared by the secrets, services and prune steps (see RunCache).
 */
export function cachedSecrets(docker: Docker, ctx: Pick<RunContext, 'cache' | 'signal'>): Promise<LiveSecret[]> {
  return ctx.cache.get('secrets', async () => {
    const raw = await dockerRequest<RawSecret[]>(docker, { method: 'GET', path: '/secrets', signal: ctx.signal });
    return raw.map((s) => ({ id: s.ID, name: s.Spec.Name, labels: s.Spec.Labels ?? {} }));
  });
}

/** Pure. The secrets of the deployable workload services (invalid or excluded records get none). */
export function desiredSecrets(spec: ClusterSpec, platform?: PlatformValues): WorkloadSecret[] {
  return renderWorkloads(spec, platform).secrets;
}

/** Shown instead of values wherever a secret appears in a plan or result. */
export const SENSITIVE = 'secret.json (sensitive)';

/**
 * Pure. Creates the secret of every service whose content has no secret yet (its name carries
 * the content hash, so a changed bundle means a new name); an existing one is unchanged. A
 * secret of that name that is not ours fails that service's secret. Removal is the prune step's.
 */
export function planSecrets(desired: readonly WorkloadSecret[], live: readonly LiveSecret[], cluster: string): Action<WorkloadSecret>[] {
  const byName = new Map(live.map((l) => [l.name, l]));
  return desired.map((d): Action<WorkloadSecret> => {
    const l = byName.get(d.name);
    const base = { kind: 'secret', name: d.name, payload: d } as const;
    if (l && !isOwned(l.labels, cluster)) {
      const reason = new CoreflowError('COREFLOW_ERR_NOT_OWNED', { kind: 'secret', name: d.name, cluster }).message;
      return { ...base, type: 'skip', reason, blocked: { status: 'failed', reason, code: 'COREFLOW_ERR_NOT_OWNED' } };
    }
    if (l) return { ...base, type: 'skip', reason: 'unchanged' };
    const previous = live.some((x) => isOwned(x.labels, cluster) && x.labels[LABEL_SECRET_SERVICE] === d.service);
    return { ...base, type: 'create', reason: previous ? `secret values of ${d.service} changed` : 'not present', diff: [SENSITIVE] };
  });
}

export function secretBody(cluster: string, d: WorkloadSecret): Record<string, unknown> {
  return {
    Name: d.name,
    Labels: ownershipLabels(cluster, 'secret', d.hash, { [LABEL_SECRET_SERVICE]: d.service }),
    Data: Buffer.from(d.content, 'utf8').toString('base64'),
  };
}

export interface SecretsStepOptions {
  model: DockerModelOf;
}

/** Runs before the workload services; one failed secret fails only its service. */
export function secretsStep(docker: Docker, opts: SecretsStepOptions): Step<LiveSecret[]> {
  return {
    kind: 'secrets',
    dependsOn: [],
    objectFailuresBlockDependents: false,
    observe: (ctx) => cachedSecrets(docker, ctx),
    plan: (spec, live, ctx) => {
      const model = opts.model(spec, ctx);
      return planSecrets([...model.workloads.secrets, ...model.baseSecrets], live, spec.cluster.name);
    },
    async apply(action, ctx) {
      const body = secretBody(ctx.spec.cluster.name, action.payload as WorkloadSecret);
      await dockerRequest(docker, { method: 'POST', path: '/secrets/create', body, signal: ctx.signal });
    },
  };
}

/**
 * Pure. The IDs of this cluster's owned secrets by name, for the services that mount them, and of
 * the existing secrets the spec references by name (`externalSecrets`), whoever made them.
 */
export function ownedSecretIds(secrets: readonly LiveSecret[], cluster: string, external: ReadonlySet<string> = new Set()): Map<string, string> {
  return new Map(secrets.filter((s) => isOwned(s.labels, cluster) || external.has(s.name)).map((s) => [s.name, s.id]));
}

/** Pure. The names of the existing secrets the spec's services mount (`externalSecrets`). */
export function externalSecretNames(spec: ClusterSpec): Set<string> {
  return new Set(spec.services.flatMap((s) => (s.externalSecrets ?? []).map((e) => e.name)));
}

/**
 * Pure. Fills in the SecretID of every secret a service spec mounts from `ids` (the run's owned
 * secrets by name). The desired spec and its hash depend on the secret's name only. Throws
 * COREFLOW_ERR_SECRET_MISSING when one is absent.
 */
export function withSecretIds(spec: DockerServiceSpec, ids: ReadonlyMap<string, string>): DockerServiceSpec {
  const refs = spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  if (refs.length === 0) return spec;
  const resolved = refs.map((r) => {
    const id = ids.get(r.SecretName);
    if (!id) throw new CoreflowError('COREFLOW_ERR_SECRET_MISSING', { secret: r.SecretName, service: spec.Name });
    return { ...r, SecretID: id };
  });
  return { ...spec, TaskTemplate: { ...spec.TaskTemplate, ContainerSpec: { ...spec.TaskTemplate.ContainerSpec, Secrets: resolved } } };
}
