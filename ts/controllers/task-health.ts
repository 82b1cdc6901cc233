import type Docker from 'dockerode';
import { ownedFilter } from '../docker/labels.ts';
import type { RawService as RawServiceFull, RawTask } from '../docker/raw-types.ts';
import { dockerRequest } from '../docker/request.ts';
import { failingCheckOutput, localTaskHealth, type ContainerHealth } from '../docker/task-container-health.ts';
import type { EventBus } from '../observe/events.ts';
import type { HealthInfo } from '../observe/status.ts';
import type { Controller } from './manager.ts';

type RawService = Pick<RawServiceFull, 'ID' | 'Spec' | 'UpdateStatus'>;

/** What is known of a service's health checks beyond its tasks' states. */
export interface CheckState {
  /** Health of task containers on this node, by task ID. */
  local: ReadonlyMap<string, ContainerHealth>;
  /** The output of the check that failed last in one of the service's current or recently failed containers. */
  output?: string;
}

/** Whether the service's spec sets a health check (not `NONE`). */
export function hasHealthcheck(service: RawService): boolean {
  const test = service.Spec.TaskTemplate?.ContainerSpec?.Healthcheck?.Test ?? [];
  return test.length > 0 && test[0] !== 'NONE';
}

/** A task that is wanted and running, and not known to be unhealthy (or not yet healthy) on this node. */
function isUp(t: RawTask, local: ReadonlyMap<string, ContainerHealth> | undefined): boolean {
  const h = t.ID === undefined ? undefined : local?.get(t.ID);
  return t.DesiredState === 'running' && t.Status.State === 'running' && (h === undefined || h === 'healthy');
}

/** ", placement: constraints a, b; at most N per node" when the service sets them (a pending task's reason names them). */
function placementText(service: RawService): string {
  const p = service.Spec.TaskTemplate?.Placement;
  const parts = [
    ...(p?.Constraints?.length ? [`constraints ${p.Constraints.join(', ')}`] : []),
    ...(p?.MaxReplicas ? [`at most ${p.MaxReplicas} per node`] : []),
  ];
  return parts.length > 0 ? `; placement: ${parts.join('; ')}` : '';
}

/** Task counts of one service, for status reports. */
export interface TaskCount {
  /** Tasks in state running. */
  running: number;
  /** Replicas asked for; null for global services (one per eligible node). */
  desired: number | null;
}

/** Pure. Running (and, where known, healthy) tasks of a service and the replicas it asks for. */
export function taskCount(service: RawService, tasks: readonly RawTask[], local?: ReadonlyMap<string, ContainerHealth>): TaskCount {
  return {
    running: tasks.filter((t) => isUp(t, local)).length,
    desired: service.Spec.Mode?.Global !== undefined ? null : (service.Spec.Mode?.Replicated?.Replicas ?? 1),
  };
}

/** A failed task older than this no longer makes a service Degraded on its own. */
export const RECENT_FAILURE_MS = 5 * 60_000;
const FAILED_STATES = new Set(['failed', 'rejected']);

/** Tasks that failed or were rejected within RECENT_FAILURE_MS, newest first. */
function recentFailures(tasks: readonly RawTask[], now: number): RawTask[] {
  return tasks
    .filter((t) => FAILED_STATES.has(t.Status.State) && now - Date.parse(t.Status.Timestamp ?? '') < RECENT_FAILURE_MS)
    .sort((a, b) => Date.parse(b.Status.Timestamp ?? '') - Date.parse(a.Status.Timestamp ?? ''));
}

/**
 * Pure. The health of one service from its update status and tasks:
 * - an update paused, or rolled back, is Degraded with Docker's message; an update or rollback
 *   in progress is Progressing;
 * - all desired tasks running (and, with a health check, none known unhealthy): Healthy;
 * - with a health check that failed: Degraded with the check's output;
 * - fewer running and a task failed or was rejected recently: Degraded with the task's error
 *   ("task: non-zero exit (1)", "no suitable node ..." with the service's placement);
 * - otherwise Progressing (tasks starting).
 */
export function serviceHealth(service: RawService, tasks: readonly RawTask[], now = Date.now(), checks?: CheckState): HealthInfo {
  const u = service.UpdateStatus;
  const why = u?.Message ? `: ${u.Message}` : '';
  if (u?.State === 'paused' || u?.State === 'rollback_paused') return { health: 'Degraded', message: `update ${u.State.replace('_', ' ')}${why}` };
  if (u?.State === 'rollback_completed') return { health: 'Degraded', message: `update rolled back${why}` };
  const running = tasks.filter((t) => isUp(t, checks?.local)).length;
  const global = service.Spec.Mode?.Global !== undefined;
  const desired = global ? tasks.filter((t) => t.DesiredState === 'running').length : (service.Spec.Mode?.Replicated?.Replicas ?? 1);
  const updating = u?.State === 'updating' || u?.State === 'rollback_started';
  if (running >= desired && (!global || desired > 0) && !updating) {
    return { health: 'Healthy', message: `${running}/${desired} task(s) running` };
  }
  if (checks?.output !== undefined) return { health: 'Degraded', message: `${running}/${desired} task(s) healthy; health check failing: ${checks.output}` };
  const failures = recentFailures(tasks, now);
  const pending = tasks.find((t) => t.DesiredState === 'running' && t.Status.State === 'pending' && t.Status.Err);
  const latest = failures[0];
  if (latest) {
    return { health: 'Degraded', message: `${running}/${desired} task(s) running; task ${latest.Status.State}: ${latest.Status.Err ?? latest.Status.Message ?? 'no error given'}` };
  }
  if (pending) return { health: 'Degraded', message: `${running}/${desired} task(s) running; task pending: ${pending.Status.Err}${placementText(service)}` };
  if (updating) return { health: 'Progressing', message: `update ${u?.State?.replace('_', ' ')}${why}` };
  return { health: 'Progressing', message: `${running}/${desired} task(s) running` };
}

export interface TaskHealthOptions {
  docker: Docker;
  /** The cluster whose services are watched; undefined while there is no desired state. */
  cluster: () => string | undefined;
  intervalMs: number;
  bus?: EventBus;
  /** Called after a run in which some service's health or message changed. */
  onChange?: () => void;
}

/**
 * Watches the tasks and update status of this cluster's services (two list calls per run,
 * whatever their number; a third, of this node's task containers, when a service has a health
 * check; a container inspect for each service whose check fails) and keeps their health for
 * /v1/status. A service turning Degraded is reported once on the event bus (an `error` event),
 * not on every run.
 */
export class TaskHealthController implements Controller {
  readonly name = 'task-health';
  readonly intervalMs: number;
  private current = new Map<string, HealthInfo>();
  private currentCounts = new Map<string, TaskCount>();
  private checked = 0;

  constructor(private readonly opts: TaskHealthOptions) {
    this.intervalMs = opts.intervalMs;
  }

  get health(): ReadonlyMap<string, HealthInfo> {
    return this.current;
  }

  /** Running and desired tasks by service name, as of the last check (the control plane's reports carry them). */
  get counts(): ReadonlyMap<string, TaskCount> {
    return this.currentCounts;
  }

  /** When the last successful check started (ms since the epoch; 0: never). */
  get checkedAt(): number {
    return this.checked;
  }

  /**
   * The output of the failing check of a service that is not Healthy: from a current container
   * on this node that is unhealthy or not yet healthy, else from the container of the newest task
   * Docker stopped as unhealthy. One container inspect per candidate, at most three.
   */
  private async checkOutput(tasks: readonly RawTask[], local: ReadonlyMap<string, ContainerHealth>, now: number, signal?: AbortSignal): Promise<string | undefined> {
    const current = tasks.filter((t) => t.DesiredState === 'running' && t.ID !== undefined && local.has(t.ID) && local.get(t.ID) !== 'healthy');
    const stopped = recentFailures(tasks, now).filter((t) => /unhealthy container/.test(t.Status.Err ?? ''));
    for (const t of [...current, ...stopped].slice(0, 3)) {
      const id = t.Status.ContainerStatus?.ContainerID;
      const output = id ? await failingCheckOutput(this.opts.docker, id, signal) : undefined;
      if (output !== undefined) return output;
    }
    return undefined;
  }

  async reconcile(signal?: AbortSignal): Promise<number> {
    const cluster = this.opts.cluster();
    if (!cluster) return 0;
    const started = Date.now();
    const { docker } = this.opts;
    const services = await dockerRequest<RawService[]>(docker, { method: 'GET', path: '/services', query: { filters: JSON.stringify(ownedFilter(cluster)) }, ...(signal ? { signal } : {}) });
    const tasks =
      services.length === 0
        ? []
        : await dockerRequest<RawTask[]>(docker, { method: 'GET', path: '/tasks', query: { filters: JSON.stringify({ service: services.map((s) => s.Spec.Name) }) }, ...(signal ? { signal } : {}) });
    const byService = new Map<string, RawTask[]>();
    for (const t of tasks) {
      const list = byService.get(t.ServiceID) ?? [];
      list.push(t);
      byService.set(t.ServiceID, list);
    }
    const local = services.some(hasHealthcheck) ? await localTaskHealth(docker, signal) : new Map<string, ContainerHealth>();
    const next = new Map<string, HealthInfo>();
    const counts = new Map<string, TaskCount>();
    for (const s of services) {
      const own = byService.get(s.ID) ?? [];
      let h = serviceHealth(s, own, started, { local });
      if (h.health !== 'Healthy' && hasHealthcheck(s)) {
        const output = await this.checkOutput(own, local, started, signal);
        if (output !== undefined) h = serviceHealth(s, own, started, { local, output });
      }
      next.set(s.Spec.Name, h);
      counts.set(s.Spec.Name, taskCount(s, own, local));
      const before = this.current.get(s.Spec.Name);
      if (h.health === 'Degraded' && before?.health !== 'Degraded') {
        this.opts.bus?.emit({ type: 'error', resourceType: this.name, kind: 'service', name: s.Spec.Name, summary: `service ${s.Spec.Name} is degraded: ${h.message ?? ''}`, code: 'COREFLOW_ERR_SERVICE_DEGRADED' });
      }
    }
    const changed = next.size !== this.current.size || [...next].some(([name, h]) => {
      const b = this.current.get(name);
      return b?.health !== h.health || b.message !== h.message;
    });
    this.current = next;
    this.currentCounts = counts;
    this.checked = started;
    if (changed) this.opts.onChange?.();
    return services.length;
  }
}
