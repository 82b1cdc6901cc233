import t from 'tap';
import { changesToApprove, nextPlan, planFingerprint } from '../../ts/reconcile/approvals.ts';
import { actionKey, controlAction } from '../../ts/reconcile/controls.ts';
import type { Action, RunResult } from '../../ts/reconcile/types.ts';
import { buildStatus } from '../../ts/observe/status.ts';
import { suspensionOf } from '../../ts/object-controls.ts';
import { load, testDoc } from '../helpers/swarm.ts';

/** The pure parts of the operator controls: held actions, plan identity, status. */
const update: Action = { kind: 'service', name: 'web', type: 'update', reason: 'drifted: changed outside coreflow', diff: ['ContainerSpec.Env'], payload: { secret: 'x' } };
const unchanged: Action = { kind: 'service', name: 'web', type: 'skip', reason: 'unchanged' };

t.test('a suspended object is held: a skip that says what it would have done', async (t) => {
  const held = controlAction(update, { suspended: () => 'suspended by an operator' });
  t.equal(held.type, 'skip');
  t.same(held.held, { by: 'suspended', type: 'update', reason: update.reason });
  t.match(held.reason, 'suspended (suspended by an operator); would update: drifted');
  t.same(held.diff, update.diff, 'the drifted fields are still reported');
  t.same(controlAction(unchanged, { suspended: () => 'x' }).held?.type, 'skip');
  t.equal(controlAction(update, {}), update, 'no control, no change');
});

t.test('outside the targets: changes are left out, unchanged objects stay as they are', async (t) => {
  const inScope = (a: { name: string }) => a.name === 'api';
  t.equal(controlAction(update, { inScope }).held?.by, 'target');
  t.equal(controlAction(unchanged, { inScope }), unchanged);
  t.equal(controlAction({ ...update, name: 'api' }, { inScope }).type, 'update');
});

t.test('an approved run: only approved changes; the guard lifted for approved deletions', async (t) => {
  const del: Action = { kind: 'service', name: 'old', type: 'delete', reason: 'no longer desired', blocked: { status: 'blocked', reason: 'guard', code: 'COREFLOW_ERR_MASS_DELETION' } };
  const approved = { planId: 'plan-1', keys: new Set([actionKey(del)]), only: true };
  t.equal(controlAction(del, { approved }).blocked, undefined, 'confirmed by the approval');
  const other = controlAction(update, { approved });
  t.equal(other.blocked?.code, 'COREFLOW_ERR_PLAN_STALE', 'not in the plan: held back');
  t.equal(controlAction(update, { approved: { ...approved, only: false } }).blocked, undefined, 'auto mode: the rest applies as usual');
});

const run = (actions: RunResult['steps'][number]['actions'], specHash = 'h1'): Pick<RunResult, 'runId' | 'specHash' | 'steps'> => ({ runId: 'r1', specHash, steps: [{ kind: 'services', status: 'succeeded', actions, durationMs: 0 }] });
const planned = { kind: 'service', name: 'web', type: 'update' as const, reason: 'spec changed', status: 'planned' as const, durationMs: 0 };

t.test('plans: what waits, and the same plan for the same changes', async (t) => {
  t.same(changesToApprove(run([planned]), 'auto'), [], 'auto mode: planned changes do not wait');
  t.equal(changesToApprove(run([planned]), 'approve').length, 1);
  const p = nextPlan(undefined, run([planned]), 'approve')!;
  t.equal(p.why, 'approve-mode');
  t.equal(nextPlan(p, run([planned]), 'approve'), p, 'same changes, same state: same plan and id');
  t.not(nextPlan(p, run([planned], 'h2'), 'approve')!.id, p.id, 'another desired state: a new plan');
  t.not(planFingerprint('h1', [planned]), planFingerprint('h1', [{ ...planned, reason: 'drifted' }]));
  t.equal(nextPlan(p, run([]), 'approve'), undefined);
});

t.test('status: Suspended objects, drift reported; a waiting plan is Waiting', async (t) => {
  const result = {
    runId: 'r', trigger: 't', dryRun: true, status: 'succeeded', finishedAt: new Date().toISOString(), durationMs: 1, specHash: 'h',
    plan: { id: 'plan-9' },
    steps: [{ kind: 'services', status: 'succeeded', actions: [
      { kind: 'service', name: 'a', type: 'skip', status: 'skipped', reason: 'suspended (x); would update: drifted', held: { by: 'suspended', type: 'update' } },
      { kind: 'service', name: 'b', type: 'update', status: 'planned', reason: 'spec changed' },
    ] }],
  };
  const s = buildStatus({ result, health: new Map(), busy: false, waiting: new Set(), plan: { id: 'plan-9', createdAt: 'now', why: 'approve-mode', changes: 1 } });
  const [a, b] = s.objects;
  t.same([a!.health, a!.sync], ['Suspended', 'OutOfSync']);
  t.same([b!.operation, b!.sync], ['Waiting', 'OutOfSync']);
  t.match(b!.message, 'waiting for approval of plan-9');
  t.same([s.overall.operation, s.overall.sync], ['Waiting', 'OutOfSync']);
  t.match(s.overall.message, 'coreflow approve plan-9');
});

t.test('suspensions from the document and from an operator', async (t) => {
  const doc = testDoc('ctl');
  doc.services = [{ name: 'a', image: 'x:1', suspended: true }, { name: 'b', image: 'x:1' }];
  doc.suspend = { dns: true };
  const s = suspensionOf(load(doc).spec, new Set(['service/b']))!;
  t.equal(s({ kind: 'service', name: 'a' }), 'suspended: true in the spec');
  t.equal(s({ kind: 'service', name: 'b' }), 'suspended by an operator');
  t.equal(s({ kind: 'dns-record', name: 'A x.example.com' }), 'suspend.dns in the spec');
  t.equal(s({ kind: 'network', name: 'n' }), undefined);
  t.equal(suspensionOf(load(testDoc('ctl2')).spec), undefined, 'nothing suspended: no control at all');
});
