import type Docker from 'dockerode';
import type { Action, RunContext, Step } from '../reconcile/types.ts';
import { hashOf } from '../spec/hash.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { isOwned, LABEL_HASH, ownershipLabels } from './labels.ts';
import type { RawNetwork } from './raw-types.ts';
import { dockerRequest } from './request.ts';

export interface LiveNetwork {
  id: string;
  name: string;
  driver: string;
  labels: Record<string, string>;
}

export interface DesiredNetwork {
  name: string;
  /** Which base network: gateway | internal. */
  role: string;
  /** Exists already; never created, changed or removed. */
  external?: boolean;
  body: { Name: string; Driver: 'overlay'; Attachable: true; CheckDuplicate: true; Labels: Record<string, string> };
}

export function desiredNetworks(spec: ClusterSpec): DesiredNetwork[] {
  // Both roles may name one external network (an adopted stack's): it is listed once.
  const roles = Object.entries(spec.networks).filter(([, n], i, all) => all.findIndex(([, m]) => m.name === n.name) === i);
  return roles.map(([role, n]) => {
    const shape = { name: n.name, driver: 'overlay', attachable: true };
    return {
      name: n.name,
      role,
      ...(n.external ? { external: true } : {}),
      body: {
        Name: n.name,
        Driver: 'overlay',
        Attachable: true,
        CheckDuplicate: true,
        Labels: ownershipLabels(spec.cluster.name, 'network', hashOf(shape), { 'coreflow.network-role': role }),
      },
    };
  });
}

/** The run's network list: listed once per run by whichever step asks first (RunCache). */
export function cachedNetworks(docker: Docker, ctx: Pick<RunContext, 'cache' | 'signal'>): Promise<LiveNetwork[]> {
  return ctx.cache.get('networks', () => listNetworks(docker, ctx.signal));
}

export async function listNetworks(docker: Docker, signal?: AbortSignal): Promise<LiveNetwork[]> {
  const nets = await dockerRequest<RawNetwork[]>(docker, { method: 'GET', path: '/networks', ...(signal ? { signal } : {}) });
  return nets.map((n) => ({ id: n.Id, name: n.Name, driver: n.Driver ?? '', labels: n.Labels ?? {} }));
}

/**
 * Pure. Creates missing base networks. A network of that name that is not ours is used as it is
 * (reported, never changed). Networks cannot be changed in place, so a differing owned network
 * is reported, not recreated: recreating would detach every running task.
 */
export function planNetworks(spec: ClusterSpec, live: readonly LiveNetwork[]): Action<DesiredNetwork>[] {
  const byName = new Map(live.map((n) => [n.name, n]));
  return desiredNetworks(spec).map((d): Action<DesiredNetwork> => {
    const n = byName.get(d.name);
    const base = { kind: 'network', name: d.name, payload: d } as const;
    if (d.external) {
      if (n) return { ...base, type: 'skip', reason: 'external; used as it is' };
      const reason = `external network ${d.name} does not exist; create it, or remove external to let coreflow create it`;
      return { ...base, type: 'skip', reason, blocked: { status: 'failed', reason, code: 'COREFLOW_ERR_SPEC_INVALID' } };
    }
    if (!n) return { ...base, type: 'create', reason: 'not present' };
    if (!isOwned(n.labels, spec.cluster.name)) return { ...base, type: 'skip', reason: 'exists and is not owned by coreflow; used as it is' };
    if (n.driver !== 'overlay') {
      return { ...base, type: 'skip', reason: `exists with driver ${n.driver}, not overlay; remove it by hand to let coreflow recreate it` };
    }
    if (n.labels[LABEL_HASH] !== d.body.Labels[LABEL_HASH]) {
      return { ...base, type: 'skip', reason: 'differs from the desired options; networks cannot change in place, remove it by hand to recreate it' };
    }
    return { ...base, type: 'skip', reason: 'unchanged' };
  });
}

/**
 * Pure. Owned networks of this cluster that are no longer desired; runs after the services so
 * that nothing of ours still uses them.
 */
export function planNetworkPrune(spec: ClusterSpec, live: readonly LiveNetwork[]): Action<LiveNetwork>[] {
  const wanted = new Set(desiredNetworks(spec).map((d) => d.name));
  return live
    .filter((n) => isOwned(n.labels, spec.cluster.name) && !wanted.has(n.name))
    .map((n) => ({ kind: 'network', name: n.name, type: 'delete', reason: 'no longer desired', payload: n }));
}

export function networksStep(docker: Docker): Step<LiveNetwork[]> {
  return {
    kind: 'networks',
    dependsOn: [],
    // The document's networks are independent of each other.
    applyConcurrency: 4,
    observe: (ctx) => cachedNetworks(docker, ctx),
    plan: (spec, live) => planNetworks(spec, live),
    async apply(action, ctx) {
      const d = action.payload as DesiredNetwork;
      await dockerRequest(docker, { method: 'POST', path: '/networks/create', body: d.body, signal: ctx.signal });
    },
  };
}

export function networkPruneStep(docker: Docker, dependsOn: string[]): Step<LiveNetwork[]> {
  return {
    kind: 'network-prune',
    dependsOn,
    observe: (ctx) => cachedNetworks(docker, ctx),
    plan: (spec, live) => planNetworkPrune(spec, live),
    async apply(action, ctx) {
      const n = action.payload as LiveNetwork;
      await dockerRequest(docker, { method: 'DELETE', path: `/networks/${n.id}`, signal: ctx.signal });
    },
  };
}
