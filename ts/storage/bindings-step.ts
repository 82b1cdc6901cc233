import type Docker from 'dockerode';
import { CoreflowError, errorCode, errorText, isCoreflowError } from '../errors.ts';
import type { RawService } from '../docker/raw-types.ts';
import { dockerRequest } from '../docker/request.ts';
import type { RunContext, Step } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { BindingsRunState, desiredBindings, planBindingReleases, planBindings, servicePlatforms, type BindingPayload, type DesiredBinding, type ServicePlatform } from './bindings-plan.ts';
import type { PlatformProvider, ProvisionedBinding } from './platform-provider.ts';

export interface BindingsStepOptions {
  provider: PlatformProvider;
  /** Release the bindings of removed services (CORESTORE_RELEASE_BINDINGS); off by default. */
  release: boolean;
  /** The Corestore API token, handed to the corestore base service as a Docker secret. */
  token?: () => Promise<string | undefined>;
}

interface BindingsLive {
  desired: DesiredBinding[];
  live: ProvisionedBinding[];
  /** Listing failed: every desired binding fails with it (each its own object, retried with backoff). */
  listError?: unknown;
}

/** The run's bindings state, shared by the bindings steps and the Docker model. */
export function bindingsRunState(ctx: Pick<RunContext, 'model'>): BindingsRunState {
  return ctx.model.get('bindings-state', () => new BindingsRunState());
}

/** Per bound service of this run: its merged platform values, or why it has none (see servicePlatforms). */
export function runPlatforms(spec: ClusterSpec, ctx: Pick<RunContext, 'model'>): Map<string, ServicePlatform> {
  return ctx.model.get('bindings-platforms', () => servicePlatforms(desiredBindings(spec), bindingsRunState(ctx)));
}

/**
 * First in the chain: lists the cluster's bindings in Corestore (one read; none at all when no
 * service has bindings and releasing is off) and provisions what is missing. The workload
 * services do not depend on it: a failure here fails the bound services only (their records get
 * the reason; running ones keep their last secret), and the step's own failure is retried with
 * backoff like any transient one.
 */
export function bindingsStep(opts: BindingsStepOptions): Step<BindingsLive> {
  return {
    kind: 'bindings',
    dependsOn: [],
    objectFailuresBlockDependents: false,
    async observe(ctx) {
      const state = bindingsRunState(ctx);
      state.dryRun = ctx.dryRun;
      if (opts.token && ctx.spec.baseServices.corestore.enabled) {
        try {
          const value = await opts.token();
          state.baseToken = value ? { value } : {};
        } catch (err) {
          state.baseToken = { problem: errorText(err) };
        }
      }
      const desired = desiredBindings(ctx.spec);
      if (desired.length === 0 && !opts.release) {
        state.listed = [];
        return { desired, live: [] };
      }
      try {
        state.listed = await opts.provider.list(ctx.spec.cluster.name, { signal: ctx.signal, log: ctx.log });
      } catch (err) {
        // Releasing is on but no service has bindings and no token is set: nothing to look at.
        if (desired.length === 0 && isCoreflowError(err, 'COREFLOW_ERR_CORESTORE_NO_TOKEN')) {
          state.listed = [];
          return { desired, live: [] };
        }
        state.listProblem = { reason: errorText(err), code: errorCode(err) };
        if (desired.length === 0) throw err;
        return { desired, live: [], listError: err };
      }
      return { desired, live: state.listed };
    },
    plan: (_spec, live) =>
      live.listError === undefined
        ? planBindings(live.desired, live.live)
        : live.desired.map((d) => ({ kind: 'binding', name: d.key, type: 'update' as const, reason: 'cannot list the bindings', payload: { op: 'fail' as const, error: live.listError } })),
    async apply(action, ctx) {
      const payload = action.payload as BindingPayload | { op: 'fail'; error: unknown };
      if (payload.op === 'fail') throw payload.error;
      if (payload.op !== 'provision') return;
      const d = payload.desired;
      const state = bindingsRunState(ctx);
      try {
        const b = await opts.provider.provision({ type: d.type, name: d.name, owner: { cluster: ctx.spec.cluster.name, service: d.service }, options: d.options }, { signal: ctx.signal, log: ctx.log });
        state.provisioned.set(d.key, b);
        if (b.state !== 'ready') {
          throw new CoreflowError('COREFLOW_ERR_BINDING_NOT_READY', { type: d.type, name: d.name, service: d.service, state: b.state, details: b.message ? `: ${b.message}` : '' });
        }
      } catch (err) {
        state.failed.set(d.key, { reason: errorText(err), code: errorCode(err) });
        throw err;
      }
    },
  };
}

interface ReleaseLive {
  live: ProvisionedBinding[];
  liveServices: Set<string>;
}

/**
 * After the workload services: the bindings of services that are neither desired nor running
 * any more (the services step removed them, within its mass-deletion guard), released only with
 * the operator's opt-in and within this step's own guard (planBindingReleases).
 */
export function bindingReleaseStep(docker: Docker, opts: BindingsStepOptions): Step<ReleaseLive> {
  return {
    kind: 'binding-release',
    dependsOn: ['bindings', 'services'],
    async observe(ctx) {
      const live = bindingsRunState(ctx).listed ?? [];
      const desired = new Set(ctx.spec.services.map((s) => s.name));
      if (!opts.release || !live.some((l) => !desired.has(l.owner.service))) return { live, liveServices: new Set() };
      const services = await dockerRequest<Pick<RawService, 'Spec'>[]>(docker, { method: 'GET', path: '/services', signal: ctx.signal });
      return { live, liveServices: new Set(services.map((s) => s.Spec.Name)) };
    },
    plan: (spec, live, ctx) => planBindingReleases(spec, live.live, live.liveServices, { release: opts.release, allowMassDeletion: ctx.confirmMassDeletion || spec.guards.allowMassDeletion }),
    async apply(action, ctx) {
      const payload = action.payload as BindingPayload;
      if (payload.op !== 'release') return;
      await opts.provider.release(payload.live, { signal: ctx.signal, log: ctx.log });
    },
  };
}
