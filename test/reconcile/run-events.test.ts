import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { ErrorReporter } from '../../ts/reconcile/error-reports.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { runEventsObserver } from '../../ts/reconcile/run-events.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import type { Step } from '../../ts/reconcile/types.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

const loaded = validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'events-test' }, services: [] });
const step: Step = {
  kind: 'things',
  dependsOn: [],
  observe: async () => [],
  plan: () => [
    { kind: 'thing', name: 'new', type: 'create', reason: 'not present' },
    { kind: 'thing', name: 'moved', type: 'update', reason: 'drifted: changed outside coreflow', diff: ['Env'] },
    { kind: 'thing', name: 'same', type: 'skip', reason: 'unchanged' },
  ],
  apply: async () => undefined,
};

t.test('a run emits the seed 004 lifecycle in order', async (t) => {
  const bus = new EventBus();
  const r = (await new Reconciler({ steps: [step], desired: () => loaded, log: silentLogger(), observer: runEventsObserver(bus) }).trigger('t'))!;
  const events = bus.recent();
  t.same(events.map((e) => e.type), ['plan.start', 'plan.complete', 'drift.detected', 'apply.start', 'apply.action', 'apply.action', 'apply.complete']);
  t.ok(events.every((e) => e.runId === r.runId && e.resourceType === 'things' && e.time && e.summary));
  t.match(events[1]!.summary, '1 to create, 1 to update, 0 to delete, 1 unchanged');
  t.match(events[2], { kind: 'thing', name: 'moved', summary: 'thing moved drifted: changed outside coreflow: Env' });
  t.match(events.at(-1)!.details, { succeeded: 2, failed: 0 });
});

t.test('a dry run emits plan events only', async (t) => {
  const bus = new EventBus();
  await new Reconciler({ steps: [step], desired: () => loaded, log: silentLogger(), observer: runEventsObserver(bus), dryRun: true }).trigger('plan');
  t.same(bus.recent().map((e) => e.type), ['plan.start', 'plan.complete', 'drift.detected']);
});

t.test('an observer or subscriber that throws never breaks the run', async (t) => {
  const bus = new EventBus();
  bus.subscribe(() => {
    throw new Error('bad subscriber');
  });
  const throwing = {
    stepPlanned: () => {
      throw new Error('bad observer');
    },
  };
  const r1 = (await new Reconciler({ steps: [step], desired: () => loaded, log: silentLogger(), observer: throwing }).trigger('t'))!;
  t.equal(r1.status, 'succeeded');
  t.equal(r1.summary.creates, 1);
  const r2 = (await new Reconciler({ steps: [step], desired: () => loaded, log: silentLogger(), observer: runEventsObserver(bus) }).trigger('t'))!;
  t.equal(r2.status, 'succeeded');
  t.equal(bus.recent().length, 7, 'events still recorded');
});

t.test('the bus keeps a bounded replay window', async (t) => {
  const bus = new EventBus(5);
  for (let i = 0; i < 12; i++) bus.emit({ type: 'error', resourceType: 'x', summary: String(i) });
  t.same(bus.recent().map((e) => e.summary), ['7', '8', '9', '10', '11']);
  t.same(bus.recent(2).map((e) => e.seq), [11, 12]);
  t.same(bus.recent(0), []);
});

t.test('error events carry the code of the failure beside its text', async (t) => {
  const bus = new EventBus();
  const reporter = new ErrorReporter(bus);
  const failing: Step = {
    kind: 'things',
    dependsOn: [],
    observe: async () => [],
    plan: () => [{ kind: 'thing', name: 'a', type: 'create', reason: 'not present' }],
    apply: async () => {
      throw new CoreflowError('COREFLOW_ERR_SECRET_MISSING', { secret: 's', service: 'a' });
    },
  };
  const broken: Step = { kind: 'others', dependsOn: [], observe: async () => Promise.reject(new RangeError('bug')), plan: () => [], apply: async () => undefined };
  const r = (await new Reconciler({ steps: [failing, broken], desired: () => loaded, log: silentLogger(), observer: runEventsObserver(bus) }).trigger('t'))!;
  reporter.afterRun(r);
  const errors = bus.recent().filter((e) => e.type === 'error');
  t.match(errors.find((e) => e.resourceType === 'others'), { code: 'COREFLOW_ERR_UNEXPECTED', summary: 'others failed: bug' }, 'a step failure');
  t.match(errors.find((e) => e.name === 'a'), { code: 'COREFLOW_ERR_SECRET_MISSING', summary: /create thing a failed: secret s of service a does not exist/ }, 'an object failure');
});
