import t from 'tap';
import { silentLogger } from '../../ts/observe/logger.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import type { Action, Step } from '../../ts/reconcile/types.ts';
import { validateSpec, type LoadedSpec } from '../../ts/spec/parse.ts';

function doc(name: string): LoadedSpec {
  return validateSpec({ apiVersion: 'coreflow/v1', cluster: { name } });
}

/** A step whose runs can be held open, recording the cluster name each run saw. */
function recordingStep(kind: string, dependsOn: string[] = [], fail = false) {
  const seen: string[] = [];
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();
  const step: Step<null> = {
    kind,
    dependsOn,
    async observe(ctx) {
      seen.push(ctx.spec.cluster.name);
      await gate;
      if (fail) throw new Error(`${kind} cannot observe`);
      return null;
    },
    plan: (spec): Action[] => [{ kind, name: spec.cluster.name, type: 'create', reason: 'test' }],
    async apply() {},
  };
  return {
    step,
    seen,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    release: () => release(),
  };
}

t.test('triggers during a run collapse into exactly one more run with the newest state', async (t) => {
  const rec = recordingStep('only');
  let current = doc('v1');
  const r = new Reconciler({ steps: [rec.step], desired: () => current, log: silentLogger() });
  rec.hold();
  const first = r.trigger('first');
  await new Promise((res) => setImmediate(res));
  current = doc('v2');
  const p2 = r.trigger('second');
  current = doc('v3');
  const p3 = r.trigger('third');
  const p4 = r.trigger('fourth');
  t.equal(p2, p3, 'the queued triggers share one promise');
  t.equal(p3, p4);
  rec.release();
  const [a, b] = await Promise.all([first, p4]);
  t.same(rec.seen, ['v1', 'v3'], 'two runs; the second saw the newest state');
  t.equal(b!.trigger, 'second, third, fourth');
  t.not(a!.runId, b!.runId);
});

t.test('a failed step blocks its dependents and names the cause; independent steps run', async (t) => {
  const bad = recordingStep('networks', [], true);
  const dependent = recordingStep('services', ['networks']);
  const independent = recordingStep('dns', []);
  const r = new Reconciler({ steps: [bad.step, dependent.step, independent.step], desired: () => doc('x'), log: silentLogger() });
  const result = (await r.trigger('t'))!;
  const by = Object.fromEntries(result.steps.map((s) => [s.kind, s]));
  t.equal(by.networks!.status, 'failed');
  t.equal(by.networks!.error, 'networks cannot observe');
  t.equal(by.services!.status, 'blocked');
  t.equal(by.services!.error, 'not run: networks failed in this run');
  t.same(dependent.seen, [], 'the dependent never observed');
  t.equal(by.dns!.status, 'succeeded');
  t.equal(result.status, 'partial');
});

t.test('dry run plans without applying; no desired state means no run', async (t) => {
  let applied = 0;
  const step: Step<null> = {
    kind: 'k',
    dependsOn: [],
    observe: async () => null,
    plan: () => [{ kind: 'k', name: 'n', type: 'update', reason: 'r' }],
    apply: async () => void applied++,
  };
  const r = new Reconciler({ steps: [step], desired: () => doc('x'), log: silentLogger(), dryRun: true });
  const result = (await r.trigger('plan'))!;
  t.equal(applied, 0);
  t.equal(result.steps[0]!.actions[0]!.status, 'planned');
  t.equal(result.summary.updates, 1);
  const empty = new Reconciler({ steps: [step], desired: () => undefined, log: silentLogger() });
  t.equal(await empty.trigger('x'), undefined);
});

t.test('stop lets the current action finish and applies nothing after it', async (t) => {
  const order: string[] = [];
  let r: Reconciler;
  const step: Step<null> = {
    kind: 'k',
    dependsOn: [],
    observe: async () => null,
    plan: () => ['one', 'two', 'three'].map((name) => ({ kind: 'k', name, type: 'create' as const, reason: 'r' })),
    async apply(a) {
      order.push(a.name);
      if (a.name === 'one') void r.stop();
    },
  };
  r = new Reconciler({ steps: [step], desired: () => doc('x'), log: silentLogger() });
  const result = (await r.trigger('t'))!;
  t.same(order, ['one']);
  t.same(result.steps[0]!.actions.map((a) => a.status), ['succeeded', 'skipped', 'skipped']);
});
