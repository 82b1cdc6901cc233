import type Docker from 'dockerode';
import { isOwned, ownedFilter } from '../docker/labels.ts';
import type { RawNetwork, RawSecret, RawService } from '../docker/raw-types.ts';
import { dockerRequest } from '../docker/request.ts';
import { secretsInUse } from '../docker/secret-prune.ts';
import type { Logger } from '../observe/logger.ts';
import type { Controller } from './manager.ts';

export interface GarbageCandidate {
  kind: 'network' | 'secret';
  id: string;
  name: string;
}

/**
 * Pure. Owned networks and secrets of this cluster that nothing references: a network that is
 * not a desired base network and that no service (ours or not) attaches to; a secret that no
 * service mounts (nor its previous spec while an update may still roll back). Objects without this cluster's ownership labels are never candidates, and
 * neither is anything created less than `graceMs` ago (a secret made for a service update that
 * has not landed yet).
 */
export function findGarbage(input: {
  cluster: string;
  desiredNetworks: ReadonlySet<string>;
  networks: readonly RawNetwork[];
  secrets: readonly RawSecret[];
  services: readonly Pick<RawService, 'Spec' | 'PreviousSpec' | 'UpdateStatus'>[];
  graceMs: number;
  /** `kind/name` of objects the last run kept (desired ones): never candidates. */
  keep?: ReadonlySet<string>;
  now?: number;
}): GarbageCandidate[] {
  const now = input.now ?? Date.now();
  const netRefs = new Set<string>();
  for (const s of input.services) {
    for (const n of [...(s.Spec.TaskTemplate?.Networks ?? []), ...(s.Spec.Networks ?? [])]) netRefs.add(n.Target);
  }
  // The same rule as the chain's secret prune: the spec, and the previous spec while an update may roll back.
  const secretRefs = secretsInUse(input.services);
  const old = (created: string | undefined) => now - Date.parse(created ?? '') >= input.graceMs;
  const out: GarbageCandidate[] = [];
  for (const n of input.networks) {
    if (!isOwned(n.Labels ?? {}, input.cluster) || input.desiredNetworks.has(n.Name) || input.keep?.has(`network/${n.Name}`)) continue;
    if (netRefs.has(n.Id) || netRefs.has(n.Name) || !old(n.Created)) continue;
    out.push({ kind: 'network', id: n.Id, name: n.Name });
  }
  for (const s of input.secrets) {
    if (!isOwned(s.Spec.Labels ?? {}, input.cluster) || input.keep?.has(`secret/${s.Spec.Name}`)) continue;
    if (secretRefs.has(s.ID) || secretRefs.has(s.Spec.Name) || !old(s.CreatedAt)) continue;
    out.push({ kind: 'secret', id: s.ID, name: s.Spec.Name });
  }
  return out;
}

export interface GarbageOptions {
  docker: Docker;
  log: Logger;
  /** The cluster and its desired base networks; undefined while there is no desired state (then nothing is looked at). */
  desired: () => { cluster: string; networks: string[] } | undefined;
  /** Objects the last run kept as desired (`kind/name`): a secret the chain manages is never garbage. */
  keep?: () => ReadonlySet<string>;
  /** A run is going on: the chain may be between creating a secret and using it, so wait. */
  busy: () => boolean;
  /** Wakes the chain, whose prune steps remove what is no longer desired (plan, guards, dry run). */
  trigger: (reason: string) => void;
  intervalMs: number;
  /** Minimum age of an object before it counts as garbage. Default 5 minutes. */
  graceMs?: number;
}

/**
 * Garbage: looks for this cluster's owned networks and secrets that nothing references any more
 * and wakes the chain when it finds some, so that its prune steps remove them; it removes
 * nothing itself. It looks with the care of pruning: never at objects without our labels, never
 * while a run is going on or without a desired state, and an object counts only when found
 * unreferenced, older than the grace time, on two looks in a row. Returns how many it found.
 */
export class GarbageController implements Controller {
  readonly name = 'garbage';
  readonly intervalMs: number;
  private marked = new Set<string>();

  constructor(private readonly opts: GarbageOptions) {
    this.intervalMs = opts.intervalMs;
  }

  async reconcile(signal: AbortSignal): Promise<number> {
    const desired = this.opts.desired();
    if (!desired || this.opts.busy()) return 0;
    const { docker } = this.opts;
    const filters = JSON.stringify(ownedFilter(desired.cluster));
    const [networks, secrets, services] = await Promise.all([
      dockerRequest<RawNetwork[]>(docker, { method: 'GET', path: '/networks', query: { filters }, signal }),
      dockerRequest<RawSecret[]>(docker, { method: 'GET', path: '/secrets', query: { filters }, signal }),
      dockerRequest<RawService[]>(docker, { method: 'GET', path: '/services', signal }),
    ]);
    const found = findGarbage({ cluster: desired.cluster, desiredNetworks: new Set(desired.networks), networks, secrets, services, graceMs: this.opts.graceMs ?? 300_000, ...(this.opts.keep ? { keep: this.opts.keep() } : {}) });
    const due = found.filter((g) => this.marked.has(`${g.kind}/${g.id}`));
    this.marked = new Set(found.map((g) => `${g.kind}/${g.id}`));
    if (due.length === 0 || signal.aborted || this.opts.busy()) return 0;
    const names = due.map((g) => `${g.kind} ${g.name}`).join(', ');
    this.opts.log.info({ garbage: names }, 'garbage: unreferenced owned objects; waking the chain');
    this.opts.trigger(`garbage: ${names} no longer referenced`);
    return due.length;
  }
}
