import t from 'tap';
import { serviceHealth, taskCount } from '../../ts/controllers/task-health.ts';
import type { RawTask } from '../../ts/docker/raw-types.ts';

const now = Date.parse('2026-01-01T12:00:00Z');
const ago = (s: number) => new Date(now - s * 1000).toISOString();
const svc = (replicas: number, update?: { State: string; Message?: string }) => ({
  ID: 's1',
  Spec: { Name: 'web', Mode: { Replicated: { Replicas: replicas } } },
  ...(update ? { UpdateStatus: update } : {}),
});
const task = (state: string, desired: string, secondsAgo: number, err?: string): RawTask => ({
  ServiceID: 's1',
  DesiredState: desired,
  Status: { State: state, Timestamp: ago(secondsAgo), ...(err ? { Err: err } : {}) },
});

t.test('health of a service from its tasks and update status', async (t) => {
  t.match(serviceHealth(svc(2), [task('running', 'running', 10), task('running', 'running', 10)], now), { health: 'Healthy', message: '2/2 task(s) running' });
  t.match(serviceHealth(svc(1), [task('failed', 'shutdown', 3, 'task: non-zero exit (1)'), task('starting', 'running', 1)], now), {
    health: 'Degraded',
    message: /0\/1 task\(s\) running; task failed: task: non-zero exit \(1\)/,
  });
  t.match(serviceHealth(svc(1), [task('rejected', 'shutdown', 3, 'No such image: nope:1')], now), { health: 'Degraded', message: /task rejected: No such image/ });
  t.match(serviceHealth(svc(1), [task('failed', 'shutdown', 3600, 'old'), task('starting', 'running', 1)], now), { health: 'Progressing' }, 'an old failure alone does not degrade');
  t.match(serviceHealth(svc(1), [task('failed', 'shutdown', 3, 'boom'), task('running', 'running', 1)], now), { health: 'Healthy' }, 'recovered: all running');
  t.match(serviceHealth(svc(1), [task('pending', 'running', 1, 'no suitable node (insufficient resources on 1 node)')], now), { health: 'Degraded', message: /no suitable node/ });
  t.match(serviceHealth(svc(1, { State: 'paused', Message: 'update paused due to failure or early termination of task x' }), [task('running', 'running', 1)], now), {
    health: 'Degraded',
    message: /^update paused: update paused due to failure/,
  });
  t.match(serviceHealth(svc(1, { State: 'rollback_completed', Message: 'rollback completed' }), [task('running', 'running', 1)], now), { health: 'Degraded', message: /rolled back/ });
  t.match(serviceHealth(svc(1, { State: 'updating' }), [task('running', 'running', 1)], now), { health: 'Progressing' });
  t.match(serviceHealth(svc(0), [], now), { health: 'Healthy' }, 'scaled to zero is healthy');
});

t.test('task counts: running tasks that are wanted running, against the replicas (null for global)', async (t) => {
  const tasks = [task('running', 'running', 5), task('running', 'shutdown', 5), task('starting', 'running', 1), task('failed', 'shutdown', 3)];
  t.same(taskCount(svc(3), tasks), { running: 1, desired: 3 });
  const global = { ID: 's1', Spec: { Name: 'agent', Mode: { Global: {} } } };
  t.same(taskCount(global, tasks), { running: 1, desired: null });
});
