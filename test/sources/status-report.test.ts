import t from 'tap';
import type { RunResult } from '../../ts/reconcile/types.ts';
import { reportSchema } from '../../ts/protocol/methods.ts';
import { statusReport } from '../../ts/sources/status-report.ts';
import { buildStatus } from '../../ts/observe/status.ts';

const result: RunResult = {
  runId: 'r1',
  trigger: 'start',
  dryRun: false,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  durationMs: 1000,
  status: 'partial',
  specHash: 'abc',
  steps: [
    { kind: 'networks', status: 'succeeded', durationMs: 1, actions: [{ kind: 'network', name: 'gw', type: 'create', reason: 'not present', status: 'succeeded', durationMs: 1 }] },
    {
      kind: 'services',
      status: 'succeeded',
      durationMs: 1,
      actions: [
        { kind: 'service', name: 'web', type: 'update', reason: 'spec changed', diff: ['env'], status: 'succeeded', durationMs: 1 },
        { kind: 'service', name: 'api', type: 'create', reason: 'not present', status: 'failed', error: 'no image', code: 'COREFLOW_ERR_IMAGE_NOT_FOUND', durationMs: 1 },
        { kind: 'service', name: 'db', type: 'skip', reason: 'unchanged', status: 'skipped', durationMs: 0 },
      ],
    },
  ],
  summary: { creates: 1, updates: 1, deletes: 0, unchanged: 1, failed: 1, blocked: 0 },
};

// What /v1/status would serve for this run with `web` crash-looping.
const status = buildStatus({
  result,
  health: new Map([['web', { health: 'Degraded' as const, message: '0/1 task(s) running; task failed: task: non-zero exit (1)' }]]),
  busy: false,
  waiting: new Set(),
  controllers: [],
  state: { lineage: 'l', serial: 3 },
});

t.test('one line per service with its health, and the run outcome', async (t) => {
  const report = statusReport('run', result, status);
  t.same(report.services, [
    { name: 'web', health: 'ok', action: 'update', reason: 'spec changed' },
    { name: 'api', health: 'failed', action: 'create', reason: 'not present', error: 'no image', code: 'COREFLOW_ERR_IMAGE_NOT_FOUND' },
    { name: 'db', health: 'ok', action: 'skip', reason: 'unchanged' },
  ]);
  t.match(report.run, { runId: 'r1', status: 'partial', specHash: 'abc', summary: { failed: 1 } });
  t.ok(reportSchema.safeParse(report).success, 'matches the wire schema, the code beside the error included');
  const counted = statusReport('run', result, status, { web: { running: 2, desired: 3 }, db: { running: 1, desired: null } });
  t.same(counted.services.map((s) => s.tasks), [{ running: 2, desired: 3 }, undefined, { running: 1, desired: null }], 'task counts where known');
  t.ok(reportSchema.safeParse(counted).success);
});

t.test('the three-axis status of /v1/status, overall and per object, without the local parts', async (t) => {
  const report = statusReport('health', result, status);
  t.equal(report.reason, 'health');
  t.same(report.status, { generatedAt: status.generatedAt, overall: status.overall, objects: status.objects }, 'the same axes and messages as /v1/status');
  t.match(report.status.objects.find((o) => o.name === 'web'), { kind: 'service', sync: 'Synced', health: 'Degraded', operation: 'Idle', message: /non-zero exit/ });
  t.match(report.status.overall, { sync: 'OutOfSync', health: 'Degraded' });
  t.notOk('controllers' in report.status || 'state' in report.status, 'controllers and state-file identity stay local');
  t.ok(reportSchema.safeParse(report).success, 'matches the wire schema');
  t.notOk(reportSchema.safeParse({ ...report, status: { ...report.status, overall: { ...report.status.overall, health: 'ok' } } }).success, 'axis values are checked');
});
