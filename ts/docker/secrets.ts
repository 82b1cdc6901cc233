import type Docker from 'dockerode';
import { CoreflowError } from '../errors.ts';
import type { Action, Step } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { isOwned, LABEL_SERVICE, ownedFilter, ownershipLabels } from './labels.ts';
import { dockerRequest } from './request.ts';
import type { DockerServiceSpec } from './service-model.ts';
import { workloadSecret, type PlatformValues, type WorkloadSecret } from './secret-content.ts';
import { workloadProblems } from './workload.ts';

/** The label on an owned secret naming the service it belongs to. */
export const LABEL_SECRET_SERVICE = LABEL_SERVICE;

export interface LiveSecret {
  id: string;
  name: string;
  labels: Record<string, string>;
}

interface RawSecret {
  ID: string;
  Spec: { Name: string; Labels?: Record<string, string> };
}

/** Secrets (metadata only: Docker never returns a secret's data). One list call. */
export async function listSecrets(docker: Docker, filters?: Record<string, string[]>): Promise<LiveSecret[]> {
  const query: Record<string, string> = filters ? { filters: JSON.stringify(filters) } : {};
  const raw = await dockerRequest<RawSecret[]>(docker, { method: 'GET', path: '/secrets', query });
  return raw.map((s) => ({ id: s.ID, name: s.Spec.Name, labels: s.Spec.Labels ?? {} }));
}

/** Pure. The secrets of the deployable workload services (invalid or excluded records get none). */
export function desiredSecrets(spec: ClusterSpec, platform?: PlatformValues): WorkloadSecret[] {
  const out: WorkloadSecret[] = [];
  for (const s of spec.services) {
    if (s.serviceCategory !== undefined && s.serviceCategory !== 'workload') continue;
    if (workloadProblems(spec, s).length > 0) continue;
    const secret = workloadSecret(spec, s, platform);
    if (secret) out.push(secret);
  }
  return out;
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

/**
 * What the secrets step saw in a run, handed to the prune step of the same run so that a run
 * with nothing to prune lists nothing more (a no-op costs one secret list call in all).
 */
export class SeenSecrets {
  private seen: { runId: string; secrets: LiveSecret[] } | undefined;

  record(runId: string, secrets: LiveSecret[]): void {
    this.seen = { runId, secrets };
  }

  /** The secrets listed in this run, or undefined when the secrets step did not list them. */
  of(runId: string): LiveSecret[] | undefined {
    return this.seen?.runId === runId ? this.seen.secrets : undefined;
  }
}

export interface SecretsStepOptions {
  platformValues?: PlatformValues;
  seen?: SeenSecrets;
}

/** Runs before the workload services; one failed secret fails only its service. */
export function secretsStep(docker: Docker, opts: SecretsStepOptions = {}): Step<LiveSecret[]> {
  return {
    kind: 'secrets',
    dependsOn: [],
    objectFailuresBlockDependents: false,
    async observe(ctx) {
      const live = await listSecrets(docker);
      opts.seen?.record(ctx.runId, live);
      return live;
    },
    plan: (spec, live) => planSecrets(desiredSecrets(spec, opts.platformValues), live, spec.cluster.name),
    async apply(action, ctx) {
      await dockerRequest(docker, { method: 'POST', path: '/secrets/create', body: secretBody(ctx.spec.cluster.name, action.payload as WorkloadSecret) });
    },
  };
}

/**
 * Fills in the SecretID of every secret a service spec mounts, from the owned secrets of its
 * cluster (one list call; only when a service is created or updated). The desired spec and its
 * hash depend on the secret's name only. Throws COREFLOW_ERR_SECRET_MISSING when one is absent.
 */
export async function resolveSecretIds(docker: Docker, cluster: string, spec: DockerServiceSpec): Promise<DockerServiceSpec> {
  const refs = spec.TaskTemplate.ContainerSpec.Secrets ?? [];
  if (refs.length === 0) return spec;
  const ids = new Map((await listSecrets(docker, ownedFilter(cluster))).map((s) => [s.name, s.id]));
  const resolved = refs.map((r) => {
    const id = ids.get(r.SecretName);
    if (!id) throw new CoreflowError('COREFLOW_ERR_SECRET_MISSING', { secret: r.SecretName, service: spec.Name });
    return { ...r, SecretID: id };
  });
  return { ...spec, TaskTemplate: { ...spec.TaskTemplate, ContainerSpec: { ...spec.TaskTemplate.ContainerSpec, Secrets: resolved } } };
}
