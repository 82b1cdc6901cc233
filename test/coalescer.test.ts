import t from 'tap';
import { Coalescer } from '../ts/coalescer.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

t.test('triggers during a run collapse into one more run that gets all their items', async (t) => {
  const runs: string[][] = [];
  const gates = [deferred(), deferred()];
  const c = new Coalescer<string, number>(async (items) => {
    runs.push(items);
    await gates[runs.length - 1]!.promise;
    return runs.length;
  });
  const first = c.trigger('a');
  t.ok(c.busy, 'a trigger when idle starts a run at once');
  const second = c.trigger('b');
  const third = c.trigger('c');
  t.equal(second, third, 'both wait for the same next run');
  gates[0]!.resolve();
  t.equal(await first, 1);
  gates[1]!.resolve();
  t.equal(await second, 2);
  t.same(runs, [['a'], ['b', 'c']]);
  t.notOk(c.busy);
});

t.test('with a delay, triggers within it join one run; a failing run rejects its triggers and the next goes on', async (t) => {
  const runs: number[][] = [];
  const c = new Coalescer<number, string>(
    async (items) => {
      runs.push(items);
      if (items.includes(0)) throw new Error('boom');
      return 'ok';
    },
    { delayMs: 5 },
  );
  const failed = c.trigger(0);
  t.notOk(c.busy, 'nothing runs before the delay');
  void c.trigger(1).catch(() => undefined);
  await t.rejects(failed, /boom/);
  t.equal(await c.trigger(2), 'ok');
  t.same(runs, [[0, 1], [2]]);
});

t.test('stop drops the waiting run and waits for the current one', async (t) => {
  const gate = deferred();
  let runs = 0;
  const c = new Coalescer<string, number>(async () => {
    runs++;
    await gate.promise;
    return runs;
  });
  const current = c.trigger('a');
  const waiting = c.trigger('b');
  const stopped = c.stop();
  gate.resolve();
  await stopped;
  t.equal(await current, 1, 'the current run finished');
  t.equal(await waiting, undefined, 'the waiting one never ran');
  t.equal(await c.trigger('c'), undefined, 'no run after stop');
  t.equal(runs, 1);
});
