import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { RunCache } from './run-cache.ts';
import type { RunModel } from './run-model.ts';
import type { RunControls } from './controls.ts';
import type { ClusterSpec } from '../spec/types.ts';

export type ActionType = 'create' | 'update' | 'delete' | 'skip';

/**
 * One planned change to one object. Planners produce these without I/O; appliers execute them.
 * `payload` is the applier's own data (the rendered Docker spec, the live ID...); it is never
 * printed, so it may hold references to secret material but the other fields must not.
 */
export interface Action<P = unknown> {
  kind: string;
  name: string;
  type: ActionType;
  /** Why: "not present", "spec changed", "drifted", "no longer desired", "unchanged"... */
  reason: string;
  /** The field paths that differ between desired and live (update), for people and the CLI. */
  diff?: string[];
  /**
   * Set when the action must not be applied (a guard, bad input for this object). The run
   * reports it with this text and code as status `blocked` (a guard) or `failed` (bad input).
   */
  blocked?: { status: 'blocked' | 'failed'; reason: string; code: ErrorCode };
  /** Set when the run's controls turned a change into a skip (see RunControls): by what, and what it would have done. */
  held?: HeldBy;
  /** Something the run could not do for this object without failing it (a registry that did not answer). */
  warning?: string;
  /** The catalogue code of `warning`. */
  warningCode?: ErrorCode;
  payload?: P;
}

/** Why a planned change was not made: the object is suspended, or outside `--target`. */
export interface HeldBy {
  by: 'suspended' | 'target';
  /** The planned type before it was held ('skip': nothing would have changed). */
  type: ActionType;
  /** The planner's reason for it. */
  reason: string;
}

export type ActionStatus = 'succeeded' | 'failed' | 'skipped' | 'blocked' | 'planned';

export interface ActionResult {
  kind: string;
  name: string;
  type: ActionType;
  reason: string;
  diff?: string[];
  held?: HeldBy;
  status: ActionStatus;
  error?: string;
  /** The catalogue code of `error` (COREFLOW_ERR_UNEXPECTED for an error coreflow does not know). */
  code?: ErrorCode;
  /** Set on a failure caused by bad input: retrying cannot fix it (no backoff retries). */
  terminal?: boolean;
  /** See Action.warning. */
  warning?: string;
  warningCode?: ErrorCode;
  durationMs: number;
}

export type StepStatus = 'succeeded' | 'failed' | 'blocked';

export interface StepResult {
  kind: string;
  status: StepStatus;
  /** Why the step failed or was not run. */
  error?: string;
  /** The code of `error`; for a step failed by its objects, the code of the first failed one. */
  code?: ErrorCode;
  actions: ActionResult[];
  durationMs: number;
}

export type RunStatus = 'succeeded' | 'partial' | 'failed';

export interface RunResult {
  runId: string;
  trigger: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  status: RunStatus;
  /** Hash of the desired state document the run used. */
  specHash: string;
  steps: StepResult[];
  summary: { creates: number; updates: number; deletes: number; unchanged: number; failed: number; blocked: number };
  /** Set when the run stopped at its plan to wait for an approval (COREFLOW_APPLY_MODE=approve, or a guarded deletion). */
  plan?: { id: string; status: 'waiting' };
}

/** What every step gets for one run. */
export interface RunContext {
  runId: string;
  spec: ClusterSpec;
  dryRun: boolean;
  /** The operator confirmed deletions beyond the mass-deletion guard for this run. */
  confirmMassDeletion: boolean;
  /** Suspensions, targets and an approved plan, applied to every step's plan (see RunControls). */
  controls?: RunControls;
  log: Logger;
  /** Set when the run must stop between actions (SIGTERM, timeout). */
  signal: AbortSignal;
  /** Lists shared by the steps of this run; cleared after every write. */
  cache: RunCache;
  /** The desired model of this run, derived once from `spec` and shared by the steps. */
  model: RunModel;
  /** Optional observer of the run's lifecycle (events, metrics); the chain works without it. */
  observer?: RunObserver;
  /**
   * Terminal failures already logged at error level for this desired state (`kind/name` -> error
   * text), kept by the reconciler across runs: a bad-input failure is logged once per change,
   * then at debug level until the desired state or the error changes.
   */
  reportedTerminal?: Map<string, string>;
}

/**
 * Hooks called as a run goes (the event bus listens here). Optional, additive: calls are
 * guarded, so an observer that throws never breaks a run.
 */
export interface RunObserver {
  runStarted?(info: { runId: string; trigger: string; dryRun: boolean }): void;
  stepStarted?(runId: string, step: string): void;
  stepPlanned?(runId: string, step: string, actions: readonly Omit<ActionResult, 'status' | 'durationMs'>[], durationMs: number, dryRun: boolean): void;
  actionApplied?(runId: string, step: string, result: ActionResult): void;
  stepFinished?(runId: string, result: StepResult, dryRun: boolean): void;
  runFinished?(result: RunResult): void;
}

/**
 * One kind of object in the chain. `observe` reads the live state (I/O), `plan` is pure,
 * `apply` executes one action (I/O). A thrown error from observe fails the whole step (and
 * blocks its dependents); a thrown error from apply fails that action only.
 */
export interface Step<L = unknown> {
  kind: string;
  dependsOn: string[];
  /**
   * Whether one failed object fails the step and so blocks its dependents (default true).
   * Workload services set it false: one broken service must not stop routing for the others.
   */
  objectFailuresBlockDependents?: boolean;
  /**
   * How many of this step's actions may be applied at once (default 1: one after the other).
   * Only for steps whose objects do not depend on each other, such as services.
   */
  applyConcurrency?: number;
  observe(ctx: RunContext): Promise<L>;
  plan(spec: ClusterSpec, live: L, ctx: Pick<RunContext, 'confirmMassDeletion' | 'model'>): Action[];
  apply(action: Action, ctx: RunContext, live: L): Promise<void>;
}
