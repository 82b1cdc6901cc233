import type { RunPlatform } from '../docker/desired-model.ts';
import type { RunContext } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { bindingsRunState, runPlatforms } from './bindings-step.ts';

/** The run's platform values for the Docker model, from what the bindings step learned. */
export function corestorePlatform(spec: ClusterSpec, ctx: Pick<RunContext, 'model'>): RunPlatform {
  const platforms = runPlatforms(spec, ctx);
  const state = bindingsRunState(ctx);
  return {
    ...(state.baseToken ? { baseToken: state.baseToken } : {}),
    values: (service) => {
      const p = platforms.get(service);
      return p && 'values' in p ? p.values : undefined;
    },
    blocked: (service) => {
      const p = platforms.get(service);
      return p && 'problem' in p ? p.problem : undefined;
    },
  };
}
