/** The three status axes (Argo CD's vocabulary). */
export type SyncStatus = 'Synced' | 'OutOfSync' | 'Unknown';
export type HealthStatus = 'Healthy' | 'Degraded' | 'Progressing' | 'Missing' | 'Suspended';
export type OperationPhase = 'Idle' | 'Syncing' | 'Waiting';

export interface ResourceStatus {
  sync: SyncStatus;
  health: HealthStatus;
  operation: OperationPhase;
  message?: string;
}

export interface ObjectStatus extends ResourceStatus {
  kind: string;
  name: string;
}

/** What the task-health controller knows of one service. */
export interface HealthInfo {
  health: HealthStatus;
  message?: string;
}

export interface AgentStatus {
  generatedAt: string;
  overall: ResourceStatus;
  objects: ObjectStatus[];
  lastRun?: { runId: string; trigger: string; status: string; finishedAt: string; durationMs: number; specHash: string };
  state?: { lineage: string; serial: number; lastApplied?: { runId: string; specHash: string; at: string } };
  controllers: ControllerState[];
  /** The plan waiting for approval (`coreflow approve ID`): its id, when it was made and its changes. */
  plan?: { id: string; createdAt: string; why: string; changes: number };
  /** The one-agent-per-cluster lease: this agent's id, its state (holding, standby, ...) and the holder. */
  lease?: LeaseInfo;
}

export interface LeaseInfo {
  state: string;
  me: string;
  name?: string;
  holder?: string;
  takeoverAt?: string;
  leaseSeconds: number;
  error?: string;
}

/** What a background controller reports of itself (the controllers manager keeps it). */
export interface ControllerState {
  name: string;
  running: boolean;
  runs: number;
  errors: number;
  lastRunAt?: string;
  lastDurationMs?: number;
  lastItems?: number;
  lastError?: string;
}

/** What the status reads of one object's result in a run (the engine's ActionResult has these). */
export interface StatusAction {
  kind: string;
  name: string;
  type: string;
  status: string;
  reason: string;
  error?: string;
  /** Set when the run's controls held the change (`suspended`, `target`) and what it would have been. */
  held?: { by: string; type: string };
  code?: string;
  /** A problem that did not fail the object (a registry that did not answer); shown in its message. */
  warning?: string;
}

/** What the status reads of a run's result (the engine's RunResult has these). */
export interface StatusRun {
  runId: string;
  trigger: string;
  dryRun: boolean;
  status: string;
  finishedAt: string;
  durationMs: number;
  specHash: string;
  steps: readonly { kind: string; status: string; error?: string; actions: readonly StatusAction[] }[];
  /** Set when the run stopped at its plan, waiting for an approval. */
  plan?: { id: string };
}

export interface StatusInput {
  result: StatusRun | undefined;
  /** By service name, from the task-health controller. */
  health: ReadonlyMap<string, HealthInfo>;
  /** When task health last looked (ms); a service it did not find after the last run is Missing. */
  healthCheckedAt?: number;
  busy: boolean;
  /** Objects (`kind/name`) waiting for a retry with backoff. */
  waiting: ReadonlySet<string>;
  /** Objects whose retries stopped after too many failed attempts in a row, with that count. */
  stalled?: ReadonlyMap<string, number>;
  controllers?: ControllerState[];
  state?: AgentStatus['state'];
  /** The plan waiting for approval, if any. */
  plan?: AgentStatus['plan'];
  lease?: LeaseInfo;
  now?: Date;
}

const HEALTH_RANK: Record<HealthStatus, number> = { Healthy: 0, Suspended: 1, Progressing: 2, Missing: 3, Degraded: 4 };
const SERVICE_KINDS = new Set(['service', 'base-service']);

function objectSync(a: StatusAction): SyncStatus {
  // A suspended object that would change has drifted from the desired state: reported, not healed.
  if (a.held?.by === 'suspended') return a.held.type === 'skip' ? 'Synced' : 'OutOfSync';
  if (a.status === 'failed' || a.status === 'blocked' || a.status === 'planned') return 'OutOfSync';
  if (a.status === 'skipped' && a.error) return 'OutOfSync';
  return 'Synced';
}

function objectHealth(a: StatusAction, sync: SyncStatus, health: ReadonlyMap<string, HealthInfo>, checkedAfterRun: boolean): HealthInfo {
  if (a.held?.by === 'suspended') return { health: 'Suspended', message: a.reason };
  const excluded = a.type === 'skip' && a.reason.includes('serviceCategory');
  if (excluded) return { health: 'Suspended', message: a.reason };
  if (a.kind === 'binding') return bindingHealth(a, sync);
  if (SERVICE_KINDS.has(a.kind)) {
    const h = health.get(a.name);
    if (h) return h;
    if (a.type === 'create' && sync !== 'Synced') return { health: 'Missing', message: a.error ?? 'not created' };
    if (checkedAfterRun) return { health: 'Missing', message: 'not found in the swarm (removed since the last run?)' };
    return { health: 'Progressing', message: 'waiting for the first task health check' };
  }
  if (a.type === 'create' && sync !== 'Synced') return { health: 'Missing', ...(a.error ? { message: a.error } : {}) };
  return { health: 'Healthy' };
}

/**
 * A platform binding: Healthy when Corestore holds it ready for its service; Progressing while it
 * is provisioned (or only planned); Degraded when provisioning failed or Corestore cannot be asked.
 */
function bindingHealth(a: StatusAction, sync: SyncStatus): HealthInfo {
  if (sync === 'Synced') return { health: 'Healthy', message: a.reason };
  if (a.status === 'planned' || a.code === 'COREFLOW_ERR_BINDING_NOT_READY') return { health: 'Progressing', message: a.error ?? a.reason };
  return { health: 'Degraded', message: a.error ?? a.reason };
}

/**
 * Pure. Per object and overall status from the last run, the task health and what runs now.
 * Sync comes from the run (applied or unchanged: Synced; failed, blocked or not applied:
 * OutOfSync; a step that could not even observe: Unknown); health from the tasks; operation is
 * Syncing while a run goes, Waiting while a retry with backoff is pending, else Idle.
 */
export function buildStatus(input: StatusInput): AgentStatus {
  const { result } = input;
  const objects: ObjectStatus[] = [];
  const checkedAfterRun = result !== undefined && (input.healthCheckedAt ?? 0) > Date.parse(result.finishedAt);
  for (const step of result?.steps ?? []) {
    if (step.actions.length === 0 && step.status !== 'succeeded') {
      objects.push({ kind: 'step', name: step.kind, sync: 'Unknown', health: 'Progressing', operation: input.busy ? 'Syncing' : 'Idle', message: step.error ?? step.status });
      continue;
    }
    for (const a of step.actions) {
      if (a.type === 'delete' && a.status === 'succeeded') continue;
      const sync = objectSync(a);
      const h = objectHealth(a, sync, input.health, checkedAfterRun);
      const key = `${a.kind}/${a.name}`;
      const waitsForApproval = result?.plan !== undefined && a.status === 'planned';
      const operation: OperationPhase = input.busy ? 'Syncing' : input.waiting.has(key) || waitsForApproval ? 'Waiting' : 'Idle';
      const stalled = input.stalled?.get(key);
      const base = waitsForApproval
        ? `waiting for approval of ${result!.plan!.id}: ${a.type} (${a.reason})`
        : sync === 'OutOfSync' ? (a.error ?? a.reason) : [h.message, a.warning].filter(Boolean).join('; ') || undefined;
      const message = stalled === undefined ? base : `${base ?? 'failed'}; retries stopped after ${stalled} failed attempts (coreflow retry ${key})`;
      objects.push({ kind: a.kind, name: a.name, sync, health: h.health, operation, ...(message ? { message } : {}) });
    }
  }
  const overallSync: SyncStatus = !result || (result.dryRun && !result.plan)
    ? 'Unknown'
    : objects.some((o) => o.sync === 'OutOfSync')
      ? 'OutOfSync'
      : objects.some((o) => o.sync === 'Unknown')
        ? 'Unknown'
        : 'Synced';
  let worst: ObjectStatus | undefined;
  for (const o of objects) if (!worst || HEALTH_RANK[o.health] > HEALTH_RANK[worst.health]) worst = o;
  const overallHealth: HealthStatus = !result ? 'Progressing' : (worst?.health ?? 'Healthy');
  const operation: OperationPhase = input.busy ? 'Syncing' : input.waiting.size > 0 || input.plan || result?.plan ? 'Waiting' : 'Idle';
  const bad = objects.filter((o) => o.health !== 'Healthy' || o.sync !== 'Synced');
  const message = !result
    ? 'no run yet'
    : input.plan
      ? `plan ${input.plan.id} (${input.plan.changes} change(s)) waits for approval: coreflow approve ${input.plan.id}`
    : bad.length === 0
      ? `${objects.length} object(s) synced and healthy`
      : `${bad.length} of ${objects.length} object(s) need attention; first: ${bad[0]!.kind} ${bad[0]!.name}: ${bad[0]!.message ?? `${bad[0]!.sync}/${bad[0]!.health}`}`;
  return {
    generatedAt: (input.now ?? new Date()).toISOString(),
    overall: { sync: overallSync, health: overallHealth, operation, message },
    objects,
    ...(result
      ? { lastRun: { runId: result.runId, trigger: result.trigger, status: result.status, finishedAt: result.finishedAt, durationMs: result.durationMs, specHash: result.specHash } }
      : {}),
    ...(input.state ? { state: input.state } : {}),
    ...(input.plan ? { plan: input.plan } : {}),
    controllers: input.controllers ?? [],
    ...(input.lease ? { lease: input.lease } : {}),
  };
}
