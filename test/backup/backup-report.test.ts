import t from 'tap';
import type { BackupOperation } from '../../ts/backup/backup-manager.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { reportSchema, type StatusReport } from '../../ts/protocol/methods.ts';
import type { RunResult } from '../../ts/reconcile/types.ts';
import type { Session } from '../../ts/sources/controlplane-connection.ts';
import { ControlPlaneReporter } from '../../ts/sources/controlplane-reporter.ts';

const result: RunResult = {
  runId: 'r1',
  trigger: 'start',
  dryRun: false,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  durationMs: 1000,
  status: 'succeeded',
  specHash: 'abc',
  steps: [],
  summary: { creates: 0, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 },
};

t.test('backups and restores reach the control plane in reportStatus: start and end at once, progress throttled', async (t) => {
  const sent: StatusReport[] = [];
  const session = { peer: { request: async (_m: string, payload: StatusReport) => (sent.push(payload), { received: true }) } } as unknown as Session;
  const ops: BackupOperation[] = [];
  const reporter = new ControlPlaneReporter({ log: silentLogger(), session: () => session, backups: () => ops.map((o) => ({ ...o })) });
  const op: BackupOperation = { id: 'bk-1', kind: 'backup', service: 'db', state: 'running', startedAt: '2026-01-01T00:00:02.000Z', bytesDone: 0, backupId: 'bk-1' };
  reporter.backupChanged(true);
  t.equal(sent.length, 0, 'nothing before the first run');
  reporter.report(result);
  ops.push(op);
  reporter.backupChanged(true);
  op.bytesDone = 1000;
  reporter.backupChanged(false);
  t.equal(sent.length, 2, 'the start is reported; progress a moment later is not');
  Object.assign(op, { state: 'succeeded', finishedAt: '2026-01-01T00:00:09.000Z', bytesDone: 2048 });
  reporter.backupChanged(true);
  t.equal(sent.length, 3, 'the end is reported at once');
  t.match(sent[1], { reason: 'backup', backups: [{ id: 'bk-1', state: 'running', bytesDone: 0 }] });
  t.match(sent[2], { reason: 'backup', backups: [{ id: 'bk-1', state: 'succeeded', bytesDone: 2048 }] });
  for (const r of sent) t.ok(reportSchema.safeParse(r).success, 'valid on the wire');
  t.notOk('backups' in sent[0]!, 'a run report without operations carries none');
  reporter.stop();
});
