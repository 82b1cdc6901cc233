import { Writable } from 'node:stream';
import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { createLogger, silentLogger } from '../../ts/observe/logger.ts';
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
  t.equal(by.networks!.code, 'COREFLOW_ERR_UNEXPECTED', 'a plain Error is an unexpected one');
  t.equal(by.services!.status, 'blocked');
  t.equal(by.services!.error, 'not run: networks failed in this run');
  t.equal(by.services!.code, 'COREFLOW_ERR_STEP_BLOCKED');
  t.notOk(by.dns!.code, 'no code without an error');
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

/** A logger whose JSON lines the test reads. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), cb()) });
  return { lines, log: createLogger({ level: 'debug', destination: sink }) };
}

t.test('every failed or blocked result carries its code; an unknown error is logged with its stack', async (t) => {
  const { lines, log } = capture();
  const failures: Record<string, () => Error> = {
    known: () => new CoreflowError('COREFLOW_ERR_DOCKER_API', { operation: 'POST /services/create', status: 500, details: 'rpc error' }),
    unknown: () => new TypeError("Cannot read properties of undefined (reading 'Spec')"),
  };
  const step: Step = {
    kind: 'things',
    dependsOn: [],
    observe: async () => null,
    plan: () => [
      { kind: 'thing', name: 'known', type: 'create', reason: 'not present' },
      { kind: 'thing', name: 'unknown', type: 'create', reason: 'not present' },
      { kind: 'thing', name: 'guarded', type: 'delete', reason: 'no longer desired', blocked: { status: 'blocked', reason: 'too many', code: 'COREFLOW_ERR_MASS_DELETION' } },
    ],
    apply: async (action) => {
      throw failures[action.name]!();
    },
  };
  const result = (await new Reconciler({ steps: [step], desired: () => doc('codes'), log }).trigger('t'))!;
  const by = Object.fromEntries(result.steps[0]!.actions.map((a) => [a.name, a]));
  t.match(by.known, { status: 'failed', code: 'COREFLOW_ERR_DOCKER_API', error: /rpc error/ });
  t.match(by.unknown, { status: 'failed', code: 'COREFLOW_ERR_UNEXPECTED', error: "Cannot read properties of undefined (reading 'Spec')" });
  t.notOk(by.unknown!.terminal, 'an unknown error is not marked terminal (the retry scheduler bounds it)');
  t.match(by.guarded, { status: 'blocked', code: 'COREFLOW_ERR_MASS_DELETION', error: 'too many' });
  t.equal(result.steps[0]!.code, 'COREFLOW_ERR_DOCKER_API', 'the step carries the code of its first failed object');
  const logged = lines.filter((l) => /create thing unknown failed/.test(String(l.msg)));
  t.equal(logged.length, 1, 'the unknown error is logged once');
  t.match(logged[0], { code: 'COREFLOW_ERR_UNEXPECTED', err: { type: 'TypeError', stack: /TypeError: Cannot read properties[\s\S]*at / } }, 'with its stack');
  t.match(lines.find((l) => /create thing known failed/.test(String(l.msg))), { code: 'COREFLOW_ERR_DOCKER_API', err: /rpc error/ }, 'a known error by its code and text');
});

t.test('a throwing or rejecting result listener or observer is logged and never becomes an unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  const { lines, log } = capture();
  const rec = recordingStep('only');
  const r = new Reconciler({
    steps: [rec.step],
    desired: () => doc('guarded'),
    log,
    observer: {
      stepStarted: () => {
        throw new Error('observer throws');
      },
      runFinished: async () => {
        throw new Error('observer rejects');
      },
    },
    onResult: async () => {
      throw new Error('listener rejects');
    },
  });
  const result = await r.trigger('first');
  t.equal(result?.status, 'succeeded', 'the run went on');
  const sync = new Reconciler({
    steps: [rec.step],
    desired: () => doc('guarded'),
    log,
    onResult: () => {
      throw new Error('listener throws');
    },
  });
  // Fire-and-forget, as the agent's triggers are: a rejection here would be unhandled.
  void sync.trigger('second');
  t.equal((await sync.trigger('third'))?.status, 'succeeded', 'triggers after a throwing listener still run');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(unhandled, [], 'no unhandled rejection');
  const failures = lines.filter((l) => /listener failed|observer failed/.test(String(l.msg))).map((l) => (l.err as { message: string }).message);
  t.same(failures.sort(), ['listener rejects', 'listener throws', 'listener throws', 'observer rejects', 'observer throws'], 'each failure logged with its error');
});

t.test('a step applies at most applyConcurrency actions at once, and its results keep the plan order', async (t) => {
  let inFlight = 0;
  let most = 0;
  const finishOrder: string[] = [];
  const step: Step<null> = {
    kind: 'many',
    dependsOn: [],
    applyConcurrency: 3,
    observe: async () => null,
    plan: (): Action[] => [
      ...Array.from({ length: 8 }, (_, i): Action => ({ kind: 'thing', name: `t${i}`, type: 'create', reason: 'test' })),
      { kind: 'thing', name: 'same', type: 'skip', reason: 'unchanged' },
    ],
    async apply(action) {
      inFlight++;
      most = Math.max(most, inFlight);
      // Later actions finish first: t7 before t0.
      for (let i = 0; i < 10 - Number(action.name.slice(1)); i++) await new Promise((r) => setImmediate(r));
      inFlight--;
      finishOrder.push(action.name);
      if (action.name === 't4') throw new CoreflowError('COREFLOW_ERR_DOCKER_API', { operation: 'POST /things', status: 500, details: 'boom' });
    },
  };
  const r = new Reconciler({ steps: [step], desired: () => doc('par'), log: silentLogger() });
  const result = (await r.trigger('test'))!;
  t.equal(most, 3, 'never more than three in flight');
  t.not(finishOrder.join(), ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7'].join(), 'they did run side by side');
  t.same(
    result.steps[0]!.actions.map((a) => [a.name, a.status]),
    [...Array.from({ length: 8 }, (_, i) => [`t${i}`, i === 4 ? 'failed' : 'succeeded']), ['same', 'skipped']],
    'one result per action, in the order planned; the failure stays with its object',
  );
});
