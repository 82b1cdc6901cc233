import type Docker from 'dockerode';
import type { Action, Step } from '../reconcile/types.ts';
import type { DockerModelOf } from './desired-model.ts';
import { isOwned, LABEL_KIND } from './labels.ts';
import type { RawSecretRefs, RawService } from './raw-types.ts';
import { dockerRequest } from './request.ts';
import { cachedSecrets, LABEL_SECRET_SERVICE, type LiveSecret } from './secrets.ts';

type RawServiceRefs = Pick<RawService, 'Spec' | 'PreviousSpec' | 'UpdateStatus'>;

export interface SecretPruneLive {
  /** This cluster's owned secrets. */
  secrets: LiveSecret[];
  /** Secret IDs and names referenced by any service, ours or not; value: why it is kept. */
  inUse: Map<string, string>;
}

/** Update states during which Docker may still roll back to PreviousSpec (and its secrets). */
const ROLLING = new Set(['updating', 'paused', 'rollback_started', 'rollback_paused']);

/** Pure. Which secrets services still reference: their spec, and their previous spec while an update runs. */
export function secretsInUse(services: readonly RawServiceRefs[]): Map<string, string> {
  const out = new Map<string, string>();
  const add = (refs: RawSecretRefs | undefined, why: string) => {
    for (const r of refs?.Secrets ?? []) {
      if (r.SecretID) out.set(r.SecretID, why);
      if (r.SecretName) out.set(r.SecretName, why);
    }
  };
  for (const s of services) {
    if (ROLLING.has(s.UpdateStatus?.State ?? '')) add(s.PreviousSpec?.TaskTemplate?.ContainerSpec, `kept for a rollback of ${s.Spec.Name} while its update runs`);
    add(s.Spec.TaskTemplate?.ContainerSpec, `used by service ${s.Spec.Name}`);
  }
  return out;
}

/**
 * Pure. Removes this cluster's owned secrets that no service references and the spec does not
 * want (a desired secret whose service failed to deploy is kept for the next run). Secrets that
 * are not ours never appear here: they were filtered out when observed.
 */
export function planSecretPrune(cluster: string, desiredNames: ReadonlySet<string>, live: SecretPruneLive): Action<LiveSecret>[] {
  const actions: Action<LiveSecret>[] = [];
  for (const s of live.secrets) {
    if (!isOwned(s.labels, cluster) || s.labels[LABEL_KIND] !== 'secret' || desiredNames.has(s.name)) continue;
    const why = live.inUse.get(s.id) ?? live.inUse.get(s.name);
    const base = { kind: 'secret', name: s.name, payload: s } as const;
    if (why) actions.push({ ...base, type: 'skip', reason: `no longer desired; ${why}` });
    else actions.push({ ...base, type: 'delete', reason: `no longer referenced${s.labels[LABEL_SECRET_SERVICE] ? ` (was ${s.labels[LABEL_SECRET_SERVICE]})` : ''}` });
  }
  return actions;
}

/** The garbage step for secrets: after the services, so rolled services no longer reference the old ones. */
export function secretPruneStep(docker: Docker, dependsOn: string[], opts: { model: DockerModelOf }): Step<SecretPruneLive> {
  return {
    kind: 'secret-prune',
    dependsOn,
    async observe(ctx) {
      const cluster = ctx.spec.cluster.name;
      const desired = opts.model(ctx.spec, ctx).secretNames;
      // The run's secret list (no call unless this run wrote): nothing owned and undesired, nothing to prune.
      const secrets = (await cachedSecrets(docker, ctx)).filter((s) => isOwned(s.labels, cluster));
      if (!secrets.some((s) => !desired.has(s.name))) return { secrets: [], inUse: new Map() };
      const services = await dockerRequest<RawServiceRefs[]>(docker, { method: 'GET', path: '/services', signal: ctx.signal });
      return { secrets, inUse: secretsInUse(services) };
    },
    plan: (spec, live, ctx) => planSecretPrune(spec.cluster.name, opts.model(spec, ctx).secretNames, live),
    async apply(action, ctx) {
      await dockerRequest(docker, { method: 'DELETE', path: `/secrets/${(action.payload as LiveSecret).id}`, signal: ctx.signal });
    },
  };
}
