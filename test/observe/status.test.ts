import t from 'tap';
import { buildStatus } from '../../ts/observe/status.ts';
import type { ActionResult, RunResult } from '../../ts/reconcile/types.ts';

const action = (a: Partial<ActionResult> & Pick<ActionResult, 'kind' | 'name'>): ActionResult => ({ type: 'skip', reason: 'unchanged', status: 'skipped', durationMs: 0, ...a });
const run = (steps: RunResult['steps']): RunResult => ({
  runId: 'r1', trigger: 't', dryRun: false, startedAt: '', finishedAt: '2026-01-01T00:00:00Z', durationMs: 5, status: 'succeeded', specHash: 'h', steps,
  summary: { creates: 0, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 },
});

t.test('three axes per object and overall', async (t) => {
  const result = run([
    { kind: 'networks', status: 'succeeded', durationMs: 1, actions: [action({ kind: 'network', name: 'gw' })] },
    {
      kind: 'services', status: 'succeeded', durationMs: 1, actions: [
        action({ kind: 'service', name: 'web' }),
        action({ kind: 'service', name: 'bad', type: 'create', reason: 'invalid record', status: 'failed', error: 'no image: set image', terminal: true }),
        action({ kind: 'service', name: 'flaky', type: 'update', reason: 'spec changed', status: 'failed', error: 'Docker API ... (500)' }),
        action({ kind: 'service', name: 'other', reason: 'serviceCategory is "base"; only workload records are deployed' }),
        action({ kind: 'service', name: 'gone', type: 'delete', reason: 'no longer desired', status: 'succeeded' }),
      ],
    },
  ]);
  const health = new Map([['web', { health: 'Degraded' as const, message: '0/1 task(s) running; task failed: task: non-zero exit (1)' }], ['flaky', { health: 'Healthy' as const }]]);
  const s = buildStatus({ result, health, busy: false, waiting: new Set(['service/flaky']) });
  const by = Object.fromEntries(s.objects.map((o) => [o.name, o]));
  t.notOk(by.gone, 'deleted objects are not listed');
  t.match(by.gw, { sync: 'Synced', health: 'Healthy', operation: 'Idle' });
  t.match(by.web, { sync: 'Synced', health: 'Degraded', message: /non-zero exit/ });
  t.match(by.bad, { sync: 'OutOfSync', health: 'Missing', message: 'no image: set image' });
  t.match(by.flaky, { sync: 'OutOfSync', health: 'Healthy', operation: 'Waiting' });
  t.match(by.other, { health: 'Suspended' });
  t.match(s.overall, { sync: 'OutOfSync', health: 'Degraded', operation: 'Waiting' });
  t.match(s.overall.message, /4 of 5 object\(s\) need attention/);
  t.equal(buildStatus({ result, health, busy: true, waiting: new Set() }).overall.operation, 'Syncing');
  const unknownYet = buildStatus({ result, health: new Map(), busy: false, waiting: new Set() }).objects.find((o) => o.name === 'web');
  t.match(unknownYet, { health: 'Progressing', message: /waiting for the first task health check/ });
  const later = Date.parse(result.finishedAt) + 1000;
  const gone = buildStatus({ result, health: new Map(), healthCheckedAt: later, busy: false, waiting: new Set() }).objects.find((o) => o.name === 'web');
  t.match(gone, { health: 'Missing', message: /not found in the swarm/ });
});

t.test('before the first run and when a step could not observe', async (t) => {
  t.match(buildStatus({ result: undefined, health: new Map(), busy: false, waiting: new Set() }).overall, { sync: 'Unknown', health: 'Progressing', message: 'no run yet' });
  const s = buildStatus({ result: run([{ kind: 'networks', status: 'failed', error: 'cannot reach Docker', actions: [], durationMs: 1 }]), health: new Map(), busy: false, waiting: new Set() });
  t.match(s.objects[0], { kind: 'step', name: 'networks', sync: 'Unknown', message: 'cannot reach Docker' });
  t.equal(s.overall.sync, 'Unknown');
});
