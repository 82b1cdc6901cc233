import { Writable } from 'node:stream';
import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { EventBus, type CoreflowEvent } from '../../ts/observe/events.ts';
import { ErrorReporter } from '../../ts/reconcile/error-reports.ts';
import { createLogger, silentLogger } from '../../ts/observe/logger.ts';
import { runEventsObserver } from '../../ts/reconcile/run-events.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import { RetryScheduler, UNEXPECTED_ATTEMPTS } from '../../ts/reconcile/retry.ts';
import type { RunResult, Step } from '../../ts/reconcile/types.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

const loaded = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'retry-test' }, services: [] });
const SECRET = 'hunter2-secret-value';

/** A step whose one object fails as told: transient (Docker 500), terminal (Docker 400) or not at all. */
function flakyStep(outcome: () => 'ok' | 'transient' | 'terminal'): Step {
  return {
    kind: 'things',
    dependsOn: [],
    observe: async () => [],
    plan: () => [{ kind: 'thing', name: 'a', type: 'update', reason: 'spec changed', payload: { password: SECRET } }],
    apply: async () => {
      const o = outcome();
      if (o === 'transient') throw new CoreflowError('COREFLOW_ERR_DOCKER_API', { operation: 'POST /x', status: 500, details: 'rpc error: the swarm is busy' });
      if (o === 'terminal') throw new CoreflowError('COREFLOW_ERR_DOCKER_API', { operation: 'POST /x', status: 400, details: 'invalid mount config' });
    },
  };
}


t.test('a transient failure is retried with backoff until it succeeds; events carry no secret values', async (t) => {
  const outcomes: ('ok' | 'transient' | 'terminal')[] = ['transient', 'transient', 'ok'];
  const bus = new EventBus();
  const events: CoreflowEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const reporter = new ErrorReporter(bus);
  const triggers: number[] = [];
  let retry: RetryScheduler | undefined;
  const done = new Promise<void>((resolve) => {
    const reconciler: Reconciler = new Reconciler({
      steps: [flakyStep(() => outcomes.shift() ?? 'ok')],
      desired: () => loaded,
      log: silentLogger(),
      observer: runEventsObserver(bus),
      onResult: (r) => {
        reporter.afterRun(r);
        retry!.afterRun(r);
        if (r.status === 'succeeded') resolve();
      },
    });
    retry = new RetryScheduler({ baseMs: 50, maxMs: 1000, log: silentLogger(), trigger: (reason) => (triggers.push(Date.now()), void reconciler.trigger(reason)) });
    void reconciler.trigger('start');
  });
  await done;
  t.equal(triggers.length, 2, 'two retries');
  t.equal(retry!.waiting.size, 0, 'nothing waits after success');
  t.equal(events.filter((e) => e.type === 'error').length, 2, 'each transient failure reported');
  t.ok(events.some((e) => e.type === 'apply.action' && e.details?.status === 'succeeded'));
  t.notOk(JSON.stringify(events).includes(SECRET), 'no secret value in any event');
  retry!.stop();
});

t.test('a terminal failure is not retried and is reported once per change', async (t) => {
  const bus = new EventBus();
  const reporter = new ErrorReporter(bus);
  let triggered = 0;
  const retry = new RetryScheduler({ baseMs: 10, maxMs: 100, log: silentLogger(), trigger: () => void triggered++ });
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string }), cb()) });
  const reconciler = new Reconciler({ steps: [flakyStep(() => 'terminal')], desired: () => loaded, log: createLogger({ level: 'info', destination: sink }) });
  for (let i = 0; i < 3; i++) {
    const r = (await reconciler.trigger('resync'))!;
    t.equal(r.steps[0]!.actions[0]!.terminal, true, 'marked terminal (Docker 400: bad input)');
    reporter.afterRun(r);
    retry.afterRun(r);
  }
  t.same([...retry.waiting], [], 'nothing waits for a retry: no timer is set');
  t.equal(triggered, 0, 'no retry');
  t.equal(lines.filter((l) => l.level >= 50 && /failed/.test(l.msg)).length, 1, 'logged at error level once, not on every run');
  t.equal(bus.recent().filter((e) => e.type === 'error').length, 1, 'reported once');
  const changed = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'retry-test' }, services: [], guards: { allowMassDeletion: true } });
  const r2 = (await new Reconciler({ steps: [flakyStep(() => 'terminal')], desired: () => changed, log: silentLogger() }).trigger('change'))!;
  reporter.afterRun(r2);
  t.equal(bus.recent().filter((e) => e.type === 'error').length, 2, 'reported again after the desired state changed');
  retry.stop();
});

/** A run result in which object thing/a failed with `code` (or succeeded). */
function resultWith(code: 'COREFLOW_ERR_UNEXPECTED' | 'COREFLOW_ERR_DOCKER_API' | undefined, specHash = 'h1'): RunResult {
  const action = { kind: 'thing', name: 'a', type: 'update' as const, reason: 'spec changed', durationMs: 1 };
  return {
    runId: 'r', trigger: 't', dryRun: false, startedAt: '', finishedAt: '', durationMs: 1, specHash,
    status: code ? 'partial' : 'succeeded',
    steps: [{ kind: 'things', status: 'succeeded', durationMs: 1, actions: [code ? { ...action, status: 'failed', error: 'boom', code } : { ...action, status: 'succeeded' }] }],
    summary: { creates: 0, updates: code ? 0 : 1, deletes: 0, unchanged: 0, failed: code ? 1 : 0, blocked: 0 },
  };
}

t.test('an unknown error is retried with backoff, but not forever: it stops after a few runs until the desired state changes', async (t) => {
  const lines: { msg: string; object?: string }[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as { msg: string }), cb()) });
  // Long delays: the timers never fire in this test; `waiting` says whether one is set.
  const retry = new RetryScheduler({ baseMs: 60_000, maxMs: 600_000, log: createLogger({ destination: sink }), trigger: () => undefined });
  t.teardown(() => retry.stop());
  for (let run = 1; run < UNEXPECTED_ATTEMPTS; run++) {
    retry.afterRun(resultWith('COREFLOW_ERR_UNEXPECTED'));
    t.same([...retry.waiting], ['thing/a'], `run ${run}: retried like a transient failure`);
  }
  retry.afterRun(resultWith('COREFLOW_ERR_UNEXPECTED'));
  t.same([...retry.waiting], [], `after ${UNEXPECTED_ATTEMPTS} runs in a row: no more retries`);
  t.equal(lines.filter((l) => /no more retries/.test(l.msg)).length, 1, 'said once');
  retry.afterRun(resultWith('COREFLOW_ERR_UNEXPECTED'));
  t.same([...retry.waiting], [], 'a resync that fails the same way does not start them again');
  t.equal(lines.filter((l) => /no more retries/.test(l.msg)).length, 1, 'nor says it again');
  retry.afterRun(resultWith('COREFLOW_ERR_UNEXPECTED', 'h2'));
  t.same([...retry.waiting], ['thing/a'], 'a new desired state is retried again');

  for (let run = 1; run <= UNEXPECTED_ATTEMPTS + 2; run++) retry.afterRun(resultWith('COREFLOW_ERR_DOCKER_API', 'h3'));
  t.same([...retry.waiting], ['thing/a'], 'a known transient failure is retried for as long as it lasts');
  retry.afterRun(resultWith(undefined, 'h3'));
  t.same([...retry.waiting], [], 'success resets the object');
});
