import { Writable } from 'node:stream';
import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { EventBus, type CoreflowEvent } from '../../ts/observe/events.ts';
import { ErrorReporter } from '../../ts/reconcile/error-reports.ts';
import { createLogger, silentLogger } from '../../ts/observe/logger.ts';
import { runEventsObserver } from '../../ts/reconcile/run-events.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import { RetryScheduler } from '../../ts/reconcile/retry.ts';
import type { Step } from '../../ts/reconcile/types.ts';
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
  await new Promise((r) => setTimeout(r, 100));
  t.equal(triggered, 0, 'no retry');
  t.equal(lines.filter((l) => l.level >= 50 && /failed/.test(l.msg)).length, 1, 'logged at error level once, not on every run');
  t.equal(bus.recent().filter((e) => e.type === 'error').length, 1, 'reported once');
  const changed = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'retry-test' }, services: [], guards: { allowMassDeletion: true } });
  const r2 = (await new Reconciler({ steps: [flakyStep(() => 'terminal')], desired: () => changed, log: silentLogger() }).trigger('change'))!;
  reporter.afterRun(r2);
  t.equal(bus.recent().filter((e) => e.type === 'error').length, 2, 'reported again after the desired state changed');
  retry.stop();
});
