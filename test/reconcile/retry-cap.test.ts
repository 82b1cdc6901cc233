import t from 'tap';
import { silentLogger } from '../../ts/observe/logger.ts';
import { buildStatus } from '../../ts/observe/status.ts';
import { RetryScheduler } from '../../ts/reconcile/retry.ts';
import type { RunResult } from '../../ts/reconcile/types.ts';

/** A run in which thing/a failed with a transient Docker error (or succeeded). */
function run(failed: boolean, specHash = 'h1'): RunResult {
  const action = { kind: 'thing', name: 'a', type: 'update' as const, reason: 'spec changed', durationMs: 1 };
  return {
    runId: 'r', trigger: 't', dryRun: false, startedAt: '', finishedAt: new Date(0).toISOString(), durationMs: 1, specHash,
    status: failed ? 'partial' : 'succeeded',
    steps: [{ kind: 'things', status: 'succeeded', durationMs: 1, actions: [failed ? { ...action, status: 'failed', error: 'Docker busy', code: 'COREFLOW_ERR_DOCKER_API' } : { ...action, status: 'succeeded' }] }],
    summary: { creates: 0, updates: failed ? 0 : 1, deletes: 0, unchanged: 0, failed: failed ? 1 : 0, blocked: 0 },
  };
}

t.test('transient failures stop being retried after maxAttempts, until the desired state changes or an operator asks', async (t) => {
  const gaveUp: [string, number][] = [];
  // Long delays: the timers never fire; `waiting` says whether one is set.
  const retry = new RetryScheduler({ baseMs: 60_000, maxMs: 600_000, maxAttempts: 3, log: silentLogger(), trigger: () => undefined, onGiveUp: (k, n) => gaveUp.push([k, n]) });
  t.teardown(() => retry.stop());
  retry.afterRun(run(true));
  retry.afterRun(run(true));
  t.same([...retry.waiting], ['thing/a'], 'retried with backoff below the cap');
  retry.afterRun(run(true));
  t.same([...retry.waiting], [], 'no more retries after 3 failed attempts');
  t.same([...retry.stalled], [['thing/a', 3]], 'reported as stalled with its count');
  retry.afterRun(run(true));
  t.same(gaveUp, [['thing/a', 3]], 'told once');

  const status = buildStatus({ result: run(true), health: new Map(), busy: false, waiting: retry.waiting, stalled: retry.stalled });
  t.match(status.objects[0]?.message, 'retries stopped after 4 failed attempts (coreflow retry thing/a)', '/v1/status says so');

  retry.afterRun(run(true, 'h2'));
  t.same([...retry.waiting], ['thing/a'], 'a new desired state starts the count again');
  retry.afterRun(run(true, 'h2'));
  retry.afterRun(run(true, 'h2'));
  t.same([...retry.stalled.keys()], ['thing/a']);
  t.ok(retry.reset('thing/a'), 'an operator retry forgets the failures');
  t.same([...retry.stalled], []);
  retry.afterRun(run(true, 'h2'));
  t.same([...retry.waiting], ['thing/a'], 'and the object is retried with backoff again');
  t.notOk(retry.reset('thing/b'), 'nothing to reset for an object that did not fail');
});

t.test('maxAttempts 0 retries without limit', async (t) => {
  const retry = new RetryScheduler({ baseMs: 60_000, maxMs: 600_000, maxAttempts: 0, log: silentLogger(), trigger: () => undefined });
  t.teardown(() => retry.stop());
  for (let i = 0; i < 20; i++) retry.afterRun(run(true));
  t.same([...retry.waiting], ['thing/a']);
});
