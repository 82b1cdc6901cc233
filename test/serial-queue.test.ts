import t from 'tap';
import { SerialQueue } from '../ts/serial-queue.ts';

t.test('tasks run one at a time in order; a failure rejects only its own task', async (t) => {
  const q = new SerialQueue();
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = q.run(async () => {
    log.push('1 start');
    await gate;
    log.push('1 end');
    return 1;
  });
  const second = q.run(async () => {
    log.push('2');
    throw new Error('second failed');
  });
  const third = q.run(async () => (log.push('3'), 3));
  await Promise.resolve();
  t.same(log, ['1 start'], 'the second waits for the first');
  release();
  t.equal(await first, 1);
  await t.rejects(second, /second failed/);
  t.equal(await third, 3, 'the queue goes on after a failure');
  await q.idle();
  t.same(log, ['1 start', '1 end', '2', '3']);
});
