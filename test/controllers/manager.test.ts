import t from 'tap';
import { ControllerManager, type Controller } from '../../ts/controllers/manager.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { AgentMetrics } from '../../ts/observe/metrics.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.ts';
import { until } from '../helpers/swarm.ts';

const states = (manager: ControllerManager) => Object.fromEntries(manager.states().map((s) => [s.name, s]));

t.test('a controller that throws or hangs does not stop the others', async (t) => {
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const manager = new ControllerManager({ log: silentLogger(), metrics, defaultTimeoutMs: 200 });
  let goodRuns = 0;
  let hangingStarted = 0;
  let hangingAborted = 0;
  const good: Controller = { name: 'good', intervalMs: 20, reconcile: async () => (goodRuns++, 3) };
  const thrower: Controller = {
    name: 'thrower',
    intervalMs: 20,
    reconcile: async () => {
      throw new Error('boom');
    },
  };
  const syncThrower: Controller = {
    name: 'sync-thrower',
    intervalMs: 20,
    reconcile: () => {
      throw new Error('thrown before any promise');
    },
  };
  const hanging: Controller = {
    name: 'hanging',
    intervalMs: 20,
    timeoutMs: 100,
    reconcile: (signal) => {
      hangingStarted++;
      signal.addEventListener('abort', () => hangingAborted++);
      return new Promise<number>(() => undefined); // never settles, ignores the signal
    },
  };
  for (const c of [good, thrower, syncThrower, hanging]) manager.register(c);
  await manager.start();
  // Wait for the outcome: the hanging one abandoned twice and started again, while the others
  // keep running and failing at their own pace.
  await until('the hanging controller to be abandoned twice', () => hangingAborted >= 2 && hangingStarted >= 3, 10_000);
  await until('the others to keep running', () => goodRuns >= 10 && states(manager).thrower!.errors >= 5 && states(manager)['sync-thrower']!.errors >= 5, 10_000);
  const now = states(manager);
  t.ok(goodRuns >= 10, `the good controller kept running (${goodRuns} runs)`);
  t.equal(now.good!.lastItems, 3, 'items processed recorded');
  t.ok(now.thrower!.errors >= 5, 'the throwing controller kept being retried');
  t.equal(now.thrower!.lastError, 'boom');
  t.ok(now['sync-thrower']!.errors >= 5, 'a synchronous throw is caught too');
  t.ok(hangingStarted >= 3, `the hanging controller was abandoned and run again (${hangingStarted} starts)`);
  t.ok(hangingAborted >= 2, 'its signal was aborted at the timeout');
  t.match(now.hanging!.lastError, /did not finish within 100 ms/);
  t.ok(manager.states().every((s) => s.running), 'every loop is still running');

  const { samples } = parsePrometheusText(await metrics.text());
  t.ok(sampleValue(samples, 'coreflow_reconcile_total', { controller: 'good', result: 'success' })! >= 10);
  t.ok(sampleValue(samples, 'coreflow_reconcile_errors_total', { controller: 'hanging' })! >= 2);
  t.equal(sampleValue(samples, 'coreflow_controller_running', { controller: 'thrower' }), 1);
  t.ok(sampleValue(samples, 'coreflow_reconcile_items_total', { controller: 'good' })! >= 30);
  t.ok(sampleValue(samples, 'coreflow_last_reconcile_timestamp_seconds', { controller: 'good' })! > Date.now() / 1000 - 60);

  const before = goodRuns;
  await manager.stop();
  t.ok(manager.states().every((s) => !s.running), 'stop ends every loop');
  const { samples: after } = parsePrometheusText(await metrics.text());
  t.equal(sampleValue(after, 'coreflow_controller_running', { controller: 'good' }), 0);
  manager.kick('good');
  await new Promise((r) => setImmediate(r));
  t.equal(goodRuns, before, 'no run after stop, not even a kicked one');
});

t.test('kick runs a controller now instead of after its interval', async (t) => {
  const manager = new ControllerManager({ log: silentLogger() });
  let runs = 0;
  manager.register({ name: 'slow', intervalMs: 60_000, reconcile: async () => ++runs });
  await manager.start();
  // A kick wakes a controller waiting for its interval: wait until the first run has finished.
  await until('the first run to finish', () => states(manager).slow!.runs === 1);
  t.equal(runs, 1, 'first run at start');
  manager.kick('slow');
  await until('the kicked run', () => runs === 2);
  t.equal(runs, 2, 'kicked run, long before the 60 s interval');
  await manager.stop();
});

t.test('a kick during a run is not lost: the next run follows that one', async (t) => {
  const manager = new ControllerManager({ log: silentLogger() });
  let runs = 0;
  let release!: () => void;
  const firstRunHeld = new Promise<void>((r) => (release = r));
  manager.register({
    name: 'slow',
    intervalMs: 60_000,
    reconcile: async () => {
      if (++runs === 1) await firstRunHeld;
      return runs;
    },
  });
  await manager.start();
  await until('the first run to start', () => runs === 1);
  manager.kick('slow');
  release();
  await until('the run the kick asked for', () => runs === 2);
  t.equal(runs, 2, 'a second run long before the 60 s interval');
  await manager.stop();
});
