import type Docker from 'dockerode';
import { CoreflowError } from '../errors.ts';
import { isOwned, LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGED_BY } from './labels.ts';
import type { RawService } from './raw-types.ts';
import { dockerRequest } from './request.ts';
import type { DesiredService, LiveService } from './service-model.ts';
import { serviceDiff } from './service-plan.ts';

/**
 * Taking over services that already run (a `docker stack`, or made by hand) without touching their
 * tasks: when a service runs exactly what the spec renders, the ownership labels and the spec hash
 * are added with one ServiceUpdate of the inspected spec, labels aside unchanged. Docker starts no
 * new task for a change of service labels, so task and service IDs stay; the next plan finds the
 * hash equal and nothing drifted.
 */

export interface Adoption {
  desired: DesiredService;
  live: LiveService;
}

export interface AdoptionPlan {
  /** Services to label, each running what the spec renders. */
  adopt: Adoption[];
  /** Already owned by this cluster: nothing to do. */
  alreadyOwned: string[];
}

const MAX_VALUE = 160;

function show(v: unknown): string {
  const text = v === undefined ? '(not set)' : JSON.stringify(v);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}...` : text;
}

function at(o: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((x, k) => (x !== null && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined), o);
}

function envMap(list: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of Array.isArray(list) ? (list as string[]) : []) out.set(l.split('=')[0] ?? '', l.slice(l.indexOf('=') + 1));
  return out;
}

/**
 * Pure. One line per differing field: the spec's value and the live one. Environment and label
 * differences name the keys only, so no value of a variable is printed.
 */
export function describeDifferences(d: DesiredService, l: LiveService): string[] {
  const live = (l.spec.Labels ?? {}) as Record<string, string>;
  // The ownership labels are what adopting adds; only the service's own labels must match.
  const labels = Object.entries(d.spec.Labels)
    .filter(([k, v]) => !k.startsWith('coreflow.') && live[k] !== v)
    .map(([k]) => k);
  const fields = [...serviceDiff(d, l).filter((f) => f !== 'Labels'), ...(labels.length > 0 ? ['Labels'] : [])];
  return fields.map((field) => {
    if (field === 'ContainerSpec.Env') {
      const want = envMap(d.spec.TaskTemplate.ContainerSpec.Env);
      const have = envMap(at(l.spec, 'TaskTemplate.ContainerSpec.Env'));
      const keys = [...new Set([...want.keys(), ...have.keys()])].filter((k) => want.get(k) !== have.get(k)).sort();
      return keys.length > 0 ? `${field}: variables ${keys.join(', ')} differ` : `${field}: the order differs (coreflow sorts by name)`;
    }
    if (field === 'Labels') return `Labels: ${labels.join(', ')} differ`;
    const path = at(d.spec, field) !== undefined || at(l.spec, field) !== undefined ? field : `TaskTemplate.${field}`;
    return `${field}: spec ${show(at(d.spec, path))}, live ${show(at(l.spec, path))}`;
  });
}

/**
 * Pure. Checks every desired workload service against what runs and returns what to adopt, or
 * throws, with nothing adopted, when any of them cannot be: a service owned by another coreflow
 * cluster (COREFLOW_ERR_ADOPT_OWNED_ELSEWHERE), a service of the spec that does not run or a record
 * that cannot be deployed (COREFLOW_ERR_ADOPT_MISSING), or one that differs from the spec, listed
 * field by field (COREFLOW_ERR_ADOPT_DIFFERS).
 */
export function planAdoption(desired: readonly DesiredService[], live: readonly LiveService[], cluster: string): AdoptionPlan {
  const byName = new Map(live.map((l) => [l.name, l]));
  const adopt: Adoption[] = [];
  const alreadyOwned: string[] = [];
  const missing: string[] = [];
  const differs: string[] = [];
  for (const d of desired) {
    const l = byName.get(d.name);
    const owner = l?.labels[LABEL_MANAGED_BY] === MANAGED_BY ? l.labels[LABEL_CLUSTER] : undefined;
    if (l && owner !== undefined && owner !== cluster) {
      throw new CoreflowError('COREFLOW_ERR_ADOPT_OWNED_ELSEWHERE', { service: d.name, owner, cluster });
    }
    if (d.invalid || d.excluded) missing.push(`${d.name}: ${d.invalid ?? d.excluded ?? ''}`);
    else if (!l) missing.push(`${d.name}: no such service runs`);
    else if (isOwned(l.labels, cluster)) alreadyOwned.push(d.name);
    else {
      const lines = describeDifferences(d, l);
      if (lines.length > 0) differs.push(...lines.map((x) => `${d.name}: ${x}`));
      else adopt.push({ desired: d, live: l });
    }
  }
  if (missing.length > 0) throw new CoreflowError('COREFLOW_ERR_ADOPT_MISSING', { details: missing.map((m) => `  - ${m}`).join('\n') });
  if (differs.length > 0) throw new CoreflowError('COREFLOW_ERR_ADOPT_DIFFERS', { details: differs.map((m) => `  - ${m}`).join('\n') });
  return { adopt, alreadyOwned };
}

/** The labels an adopted service carries: its own, plus ownership, role and spec hash. */
export function adoptedLabels(live: Record<string, string>, d: DesiredService): Record<string, string> {
  const ours = Object.fromEntries(Object.entries(d.spec.Labels).filter(([k]) => k.startsWith('coreflow.')));
  return { ...live, ...ours };
}

/**
 * Labels one service as ours: inspects it, refuses when it changed since it was planned (another
 * version), and sends its own stored spec back with the labels added, at that version. A
 * concurrent change makes Docker refuse the update ("update out of sequence"); nothing is retried.
 */
export async function adoptService(docker: Docker, a: Adoption, signal: AbortSignal): Promise<void> {
  const raw = await dockerRequest<RawService>(docker, { method: 'GET', path: `/services/${a.live.id}`, signal });
  if (raw.Version.Index !== a.live.version) {
    throw new CoreflowError('COREFLOW_ERR_ADOPT_MISSING', { details: `  - ${a.live.name}: changed while adopting (version ${a.live.version} -> ${raw.Version.Index}); run adopt again` });
  }
  const body = { ...raw.Spec, Labels: adoptedLabels(raw.Spec.Labels ?? {}, a.desired) };
  await dockerRequest(docker, { method: 'POST', path: `/services/${a.live.id}/update`, query: { version: raw.Version.Index }, body, signal });
}
