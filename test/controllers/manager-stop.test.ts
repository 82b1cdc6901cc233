import t from 'tap';
import { ControllerManager } from '../../ts/controllers/manager.ts';
import { silentLogger } from '../../ts/observe/logger.ts';

t.test('stop aborts the runs in flight and does not wait for one that ignores its signal', async (t) => {
  const manager = new ControllerManager({ log: silentLogger(), defaultTimeoutMs: 3_600_000 });
  let entered!: () => void;
  const running = new Promise<void>((r) => (entered = r));
  let aborted = false;
  manager.register({
    name: 'hung',
    intervalMs: 60_000,
    reconcile: (signal) => {
      signal.addEventListener('abort', () => (aborted = true));
      entered();
      return new Promise<number>(() => undefined);
    },
  });
  const lifecycle: string[] = [];
  manager.register({
    name: 'listening',
    intervalMs: 60_000,
    reconcile: async () => 0,
    start: async () => void lifecycle.push('start'),
    stop: async () => void lifecycle.push('stop'),
  });
  await manager.start();
  await running;
  await manager.stop();
  t.ok(aborted, 'the hung run was told to stop');
  t.ok(manager.states().every((s) => !s.running), 'every loop ended although the run never returned');
  t.same(lifecycle, ['start', 'stop'], 'a controller with a lifecycle is started and stopped by the manager');
});
