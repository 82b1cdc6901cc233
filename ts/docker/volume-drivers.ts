import type Docker from 'dockerode';
import { CoreflowError, type ErrorCode } from '../errors.ts';
import type { RunContext, Step } from '../reconcile/types.ts';
import { isDeployed } from '../spec/service-category.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { dockerRequest } from './request.ts';
import { volumeName } from './volumes.ts';

/** Docker's built-in driver: present on every node, never checked. */
const BUILT_IN = 'local';

interface RawNodePlugins {
  Description?: { Engine?: { Plugins?: { Type?: string; Name?: string }[] } };
}

/** The volume drivers the swarm's nodes report, learned once per run (undefined: not looked up). */
export class VolumeDriversState {
  available: ReadonlySet<string> | undefined;
}

export function volumeDriversState(ctx: Pick<RunContext, 'model'>): VolumeDriversState {
  return ctx.model.get('volume-drivers', () => new VolumeDriversState());
}

/** Pure. The volume plugin names of the nodes; a managed plugin `name:latest` also answers to `name`. */
export function volumeDriverNames(nodes: readonly RawNodePlugins[]): Set<string> {
  const out = new Set<string>([BUILT_IN]);
  for (const n of nodes) {
    for (const p of n.Description?.Engine?.Plugins ?? []) {
      if (p.Type !== 'Volume' || !p.Name) continue;
      out.add(p.Name);
      if (p.Name.endsWith(':latest')) out.add(p.Name.slice(0, -':latest'.length));
    }
  }
  return out;
}

/** Pure. The non-built-in drivers the deployed services' volumes use (external volumes exist already). */
export function neededVolumeDrivers(spec: ClusterSpec): Set<string> {
  return new Set(spec.services.filter(isDeployed).flatMap((s) => s.volumes.filter((v) => !v.external).map((v) => v.driver)).filter((d) => d !== BUILT_IN));
}

/**
 * Pure. Why a service cannot be deployed on this swarm: one of its volumes needs a driver no node
 * has (Docker would accept the service and fail every task at mount time).
 */
export function volumeDriverProblem(spec: ClusterSpec, service: string, available: ReadonlySet<string> | undefined): { reason: string; code: ErrorCode } | undefined {
  if (!available) return undefined;
  const s = spec.services.find((x) => x.name === service);
  // An external volume exists already with its own driver: nothing to check. An enabled corestore
  // base service (global) serves the corestore plugin socket on every node; a socket plugin is
  // listed by a node only once something used it, so it counts as present.
  const corestore = spec.baseServices.corestore.enabled;
  const v = s?.volumes.find((x) => !x.external && !available.has(x.driver) && !(corestore && x.driver === 'corestore'));
  if (!s || !v) return undefined;
  const err = new CoreflowError('COREFLOW_ERR_VOLUME_PLUGIN_MISSING', { service, volume: volumeName(service, v), driver: v.driver });
  return { reason: err.message, code: err.code };
}

/**
 * Before the services: when a service mounts a volume with a driver other than `local`, reads
 * which volume plugins the swarm's nodes have (one GET /nodes; nothing when every volume is
 * local). It plans nothing itself; the services whose driver is missing fail with
 * COREFLOW_ERR_VOLUME_PLUGIN_MISSING instead of being created with tasks that cannot start.
 */
export function volumeDriversStep(docker: Docker): Step<null> {
  return {
    kind: 'volume-drivers',
    dependsOn: [],
    async observe(ctx) {
      if (neededVolumeDrivers(ctx.spec).size === 0) return null;
      const nodes = await dockerRequest<RawNodePlugins[]>(docker, { method: 'GET', path: '/nodes', signal: ctx.signal });
      volumeDriversState(ctx).available = volumeDriverNames(nodes);
      return null;
    },
    plan: () => [],
    apply: async () => undefined,
  };
}
