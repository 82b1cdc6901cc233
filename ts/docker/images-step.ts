import type { RunContext, Step } from '../reconcile/types.ts';

/**
 * The first step of the chain: resolves the run's image tags to digests (see ImageResolver) before
 * any step reads the desired model, so the model is rendered once per run, pinned. It plans
 * nothing itself: the services steps plan with the digests and report, per service, what a
 * registry that did not answer left unpinned. Never fails (resolution problems are per image).
 */
export function imagesStep(prepare: (ctx: RunContext) => Promise<void>): Step<null> {
  return {
    kind: 'images',
    dependsOn: [],
    async observe(ctx) {
      await prepare(ctx);
      return null;
    },
    plan: () => [],
    apply: async () => undefined,
  };
}
