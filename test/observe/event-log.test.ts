import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EventRetentionController } from '../../ts/controllers/event-retention.ts';
import { EventLog } from '../../ts/observe/event-log.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { StateFile } from '../../ts/reconcile/state-file.ts';
import type { RunResult } from '../../ts/reconcile/types.ts';

const dir = await mkdtemp(join(tmpdir(), 'cf-evlog-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('the event log is trimmed by age and by size', async (t) => {
  const log = new EventLog(join(dir, 'state', 'events.jsonl'));
  const bus = new EventBus();
  bus.subscribe((e) => void log.append(e));
  const now = Date.now();
  for (let i = 0; i < 10; i++) bus.emit({ type: 'plan.start', resourceType: 'old', summary: `old ${i}`, time: new Date(now - 3 * 3_600_000).toISOString() });
  for (let i = 0; i < 50; i++) bus.emit({ type: 'plan.complete', resourceType: 'new', summary: `new ${i}` });
  await log.flush();
  t.equal((await log.read()).length, 60);
  const retention = new EventRetentionController(log, { maxAgeMs: 3_600_000, maxBytes: 1_000_000 });
  t.equal(await retention.reconcile(), 10, 'events older than the age limit dropped');
  const last20 = (await log.read()).slice(-20).reduce((n, e) => n + Buffer.byteLength(`${JSON.stringify(e)}\n`), 0);
  const bySize = new EventRetentionController(log, { maxAgeMs: 3_600_000, maxBytes: last20 + 5 });
  t.equal(await bySize.reconcile(), 30, 'oldest events dropped to fit the size');
  const kept = await log.read();
  t.equal(kept.length, 20);
  t.equal(kept.at(-1)!.summary, 'new 49', 'the newest are kept');
  t.equal(await bySize.reconcile(), 0, 'idempotent');
  bus.emit({ type: 'error', resourceType: 'x', summary: 'after trim' });
  t.equal((await log.read()).at(-1)!.summary, 'after trim', 'appends continue after a trim');
});

t.test('the state file keeps its lineage and bumps its serial; dry runs are not written', async (t) => {
  const result = (dryRun: boolean): RunResult => ({
    runId: 'r', trigger: 't', dryRun, startedAt: '', finishedAt: '', durationMs: 1, status: 'succeeded', specHash: 'abc',
    summary: { creates: 1, updates: 0, deletes: 1, unchanged: 0, failed: 0, blocked: 0 },
    steps: [{ kind: 'services', status: 'succeeded', durationMs: 1, actions: [
      { kind: 'service', name: 'web', type: 'create', reason: 'not present', status: 'succeeded', durationMs: 1 },
      { kind: 'service', name: 'old', type: 'delete', reason: 'no longer desired', status: 'succeeded', durationMs: 1 },
    ] }],
  });
  const first = new StateFile(join(dir, 'state'));
  t.equal(await first.load(), undefined, 'no file yet');
  const s1 = (await first.write(result(false)))!;
  t.equal(s1.serial, 1);
  t.same(s1.resources.map((r) => r.address), ['service.web'], 'deleted objects are not in the state');
  t.equal(await first.write(result(true)), undefined);
  const restarted = new StateFile(join(dir, 'state'));
  const loaded = (await restarted.load())!;
  t.equal(loaded.lineage, s1.lineage, 'a restarted agent reads what it last applied');
  t.equal(loaded.serial, 1);
  t.match(restarted.identity, { lineage: s1.lineage, serial: 1, lastApplied: { runId: 'r', specHash: 'abc' } }, 'status shows what was last applied');
  const s2 = (await restarted.write(result(false)))!;
  t.equal(s2.serial, 2);
  t.equal(s2.lineage, s1.lineage);
  t.match(JSON.parse(await readFile(restarted.path, 'utf8')), { version: 1, serial: 2 });
});

t.test('state writes in quick succession get distinct serials', async (t) => {
  const file = new StateFile(join(dir, 'burst'));
  const r: RunResult = {
    runId: 'r', trigger: 't', dryRun: false, startedAt: '', finishedAt: '', durationMs: 1, status: 'succeeded', specHash: 'abc',
    summary: { creates: 0, updates: 0, deletes: 0, unchanged: 0, failed: 0, blocked: 0 }, steps: [],
  };
  const written = await Promise.all([file.write(r), file.write(r), file.write(r)]);
  t.same(written.map((s) => s!.serial), [1, 2, 3]);
  t.equal((await new StateFile(join(dir, 'burst')).load())!.serial, 3);
});
