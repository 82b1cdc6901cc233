import type Docker from 'dockerode';
import { ownedFilter } from '../docker/labels.ts';
import { dockerRequest } from '../docker/request.ts';
import type { EventBus } from '../observe/events.ts';
import type { HealthInfo } from '../observe/status.ts';
import type { Controller } from './manager.ts';

interface RawService {
  ID: string;
  Spec: { Name: string; Mode?: { Replicated?: { Replicas?: number }; Global?: object } };
  UpdateStatus?: { State?: string; Message?: string };
}

export interface RawTask {
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Status: { State: string; Err?: string; Message?: string; Timestamp?: string };
}

/** Task counts of one service, for status reports. */
export interface TaskCount {
  /** Tasks in state running. */
  running: number;
  /** Replicas asked for; null for global services (one per eligible node). */
  desired: number | null;
}

/** Pure. Running tasks of a service and the replicas it asks for. */
export function taskCount(service: RawService, tasks: readonly RawTask[]): TaskCount {
  return {
    running: tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length,
    desired: service.Spec.Mode?.Global !== undefined ? null : (service.Spec.Mode?.Replicated?.Replicas ?? 1),
  };
}

/** A failed task older than this no longer makes a service Degraded on its own. */
export const RECENT_FAILURE_MS = 5 * 60_000;
const FAILED_STATES = new Set(['failed', 'rejected']);

/**
 * Pure. The health of one service from its update status and tasks:
 * - an update paused, or rolled back, is Degraded with Docker's message; an update or rollback
 *   in progress is Progressing;
 * - all desired tasks running: Healthy;
 * - fewer running and a task failed or was rejected recently: Degraded with the task's error
 *   ("task: non-zero exit (1)", "no suitable node ...");
 * - otherwise Progressing (tasks starting).
 */
export function serviceHealth(service: RawService, tasks: readonly RawTask[], now = Date.now()): HealthInfo {
  const u = service.UpdateStatus;
  const why = u?.Message ? `: ${u.Message}` : '';
  if (u?.State === 'paused' || u?.State === 'rollback_paused') return { health: 'Degraded', message: `update ${u.State.replace('_', ' ')}${why}` };
  if (u?.State === 'rollback_completed') return { health: 'Degraded', message: `update rolled back${why}` };
  const running = tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length;
  const global = service.Spec.Mode?.Global !== undefined;
  const desired = global ? tasks.filter((t) => t.DesiredState === 'running').length : (service.Spec.Mode?.Replicated?.Replicas ?? 1);
  const updating = u?.State === 'updating' || u?.State === 'rollback_started';
  if (running >= desired && (!global || desired > 0) && !updating) {
    return { health: 'Healthy', message: `${running}/${desired} task(s) running` };
  }
  const failures = tasks
    .filter((t) => FAILED_STATES.has(t.Status.State) && now - Date.parse(t.Status.Timestamp ?? '') < RECENT_FAILURE_MS)
    .sort((a, b) => Date.parse(b.Status.Timestamp ?? '') - Date.parse(a.Status.Timestamp ?? ''));
  const pending = tasks.find((t) => t.DesiredState === 'running' && t.Status.State === 'pending' && t.Status.Err);
  const latest = failures[0];
  if (latest) {
    return { health: 'Degraded', message: `${running}/${desired} task(s) running; task ${latest.Status.State}: ${latest.Status.Err ?? latest.Status.Message ?? 'no error given'}` };
  }
  if (pending) return { health: 'Degraded', message: `${running}/${desired} task(s) running; task pending: ${pending.Status.Err}` };
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
 * whatever their number) and keeps their health for /v1/status. A service turning Degraded is
 * reported once on the event bus (an `error` event), not on every run.
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

  async reconcile(): Promise<number> {
    const cluster = this.opts.cluster();
    if (!cluster) return 0;
    const started = Date.now();
    const { docker } = this.opts;
    const services = await dockerRequest<RawService[]>(docker, { method: 'GET', path: '/services', query: { filters: JSON.stringify(ownedFilter(cluster)) } });
    const tasks =
      services.length === 0
        ? []
        : await dockerRequest<RawTask[]>(docker, { method: 'GET', path: '/tasks', query: { filters: JSON.stringify({ service: services.map((s) => s.Spec.Name) }) } });
    const byService = new Map<string, RawTask[]>();
    for (const t of tasks) {
      const list = byService.get(t.ServiceID) ?? [];
      list.push(t);
      byService.set(t.ServiceID, list);
    }
    const next = new Map<string, HealthInfo>();
    const counts = new Map<string, TaskCount>();
    for (const s of services) {
      const own = byService.get(s.ID) ?? [];
      const h = serviceHealth(s, own);
      next.set(s.Spec.Name, h);
      counts.set(s.Spec.Name, taskCount(s, own));
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
