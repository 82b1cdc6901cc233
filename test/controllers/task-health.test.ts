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

t.test('a service with a health check: Healthy only with healthy tasks, Degraded with the check output', async (t) => {
  const checked = { ID: 's1', Spec: { Name: 'web', Mode: { Replicated: { Replicas: 2 } }, TaskTemplate: { ContainerSpec: { Healthcheck: { Test: ['CMD', 'check'] } } } } };
  const tk = (id: string, state: string) => ({ ...task(state, 'running', 5), ID: id });
  const local = new Map([['t1', 'healthy' as const], ['t2', 'unhealthy' as const]]);
  t.match(serviceHealth(checked, [tk('t1', 'running'), tk('t2', 'running')], now, { local }), { health: 'Progressing', message: '1/2 task(s) running' }, 'an unhealthy running task is not counted');
  t.match(serviceHealth(checked, [tk('t1', 'running'), tk('t2', 'running')], now, { local, output: 'connection refused' }), {
    health: 'Degraded',
    message: '1/2 task(s) healthy; health check failing: connection refused',
  });
  t.match(serviceHealth(checked, [tk('t1', 'running'), tk('t3', 'running')], now, { local }), { health: 'Healthy' }, 'a task on another node counts once Swarm says running');
  t.same(taskCount(checked, [tk('t1', 'running'), tk('t2', 'running')], local), { running: 1, desired: 2 });
});

t.test('a task that no node can take: Degraded with the placement that excludes it', async (t) => {
  const placed = { ID: 's1', Spec: { Name: 'web', Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: { Placement: { Constraints: ['node.labels.disk==ssd'], MaxReplicas: 1 } } } };
  t.match(serviceHealth(placed, [task('pending', 'running', 1, 'no suitable node (scheduling constraints not satisfied on 1 node)')], now), {
    health: 'Degraded',
    message: '0/1 task(s) running; task pending: no suitable node (scheduling constraints not satisfied on 1 node); placement: constraints node.labels.disk==ssd; at most 1 per node',
  });
});
