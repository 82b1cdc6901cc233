import { CoreflowError, errorLogFields, errorText, isCoreflowError } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import type { AgentMetrics } from '../observe/metrics.ts';
import type { ControllerState } from '../observe/status.ts';

/**
 * A background controller: a name, an interval and an idempotent reconcile that
 * returns how many items it processed. It should stop soon after `signal` aborts (the per-run
 * timeout or the agent stopping); one that ignores it is abandoned by its loop, which goes on.
 */
export interface Controller {
  name: string;
  intervalMs: number;
  /** Per-run timeout; the manager's default when omitted. */
  timeoutMs?: number;
  reconcile(signal: AbortSignal): Promise<number>;
  /** Optional lifecycle of a controller that also listens (drift): called by the manager's start and stop. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export interface ManagerOptions {
  log: Logger;
  metrics?: AgentMetrics;
  /** Per-run timeout for controllers without their own. Default 30 s. */
  defaultTimeoutMs?: number;
}

interface ControllerEntry {
  c: Controller;
  state: ControllerState;
  timer?: NodeJS.Timeout;
  wake?: (() => void) | undefined;
  /** A kick arrived while a run was in flight: the next run starts without waiting. */
  kicked: boolean;
  loop?: Promise<void>;
}

/**
 * Runs each controller in its own loop: a run, then a wait of `intervalMs`, then the next run.
 * A run that throws, rejects or exceeds its timeout is logged and counted; it never stops that
 * loop or the others. `kick(name)` runs a controller now (once) instead of waiting; a kick during
 * a run starts the next run as soon as that one ends (what it asked for may have been read already).
 */
export class ControllerManager implements Lifecycle {
  readonly name = 'controllers';
  private readonly controllers = new Map<string, ControllerEntry>();
  private readonly stopping = new AbortController();
  private started = false;

  constructor(private readonly opts: ManagerOptions) {}

  register(c: Controller): void {
    if (this.controllers.has(c.name)) throw new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: `controller ${c.name} registered twice` });
    const entry: ControllerEntry = { c, state: { name: c.name, running: false, runs: 0, errors: 0 }, kicked: false };
    this.controllers.set(c.name, entry);
    if (this.started && !this.stopping.signal.aborted) {
      entry.state.running = true;
      entry.loop = this.loop(c.name);
    }
  }

  get names(): string[] {
    return [...this.controllers.keys()];
  }

  states(): ControllerState[] {
    return [...this.controllers.values()].map((e) => ({ ...e.state }));
  }

  async start(): Promise<void> {
    for (const e of this.controllers.values()) await e.c.start?.();
    this.started = true;
    for (const [name, e] of this.controllers) {
      e.state.running = true;
      e.loop = this.loop(name);
    }
  }

  /** Ends the wait now instead of after the interval; during a run, the next run follows at once. */
  kick(name: string): void {
    const e = this.controllers.get(name);
    if (!e) return;
    if (e.wake) e.wake();
    else e.kicked = true;
  }

  /** Aborts the runs in flight (their signal) and resolves once every loop has ended. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const e of this.controllers.values()) e.wake?.();
    await Promise.all([...this.controllers.values()].map((e) => e.loop));
    for (const e of this.controllers.values()) await e.c.stop?.();
  }

  private async loop(name: string): Promise<void> {
    const e = this.controllers.get(name)!;
    const { c } = e;
    const log = this.opts.log.child({ controller: name });
    this.opts.metrics?.controllerRunning.set({ controller: name }, 1);
    while (!this.stopping.signal.aborted) {
      e.kicked = false;
      await this.runOnce(c, e.state, log);
      if (this.stopping.signal.aborted) break;
      if (e.kicked) continue;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(e.timer);
          e.wake = undefined;
          resolve();
        };
        e.timer = setTimeout(done, c.intervalMs);
        e.wake = done;
      });
    }
    e.state.running = false;
    this.opts.metrics?.controllerRunning.set({ controller: name }, 0);
  }

  private async runOnce(c: Controller, state: ControllerState, log: Logger): Promise<void> {
    const timeoutMs = c.timeoutMs ?? this.opts.defaultTimeoutMs ?? 30_000;
    const run = new AbortController();
    const signal = AbortSignal.any([run.signal, this.stopping.signal]);
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const items = await Promise.race([
        Promise.resolve().then(() => c.reconcile(signal)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new CoreflowError('COREFLOW_ERR_RUN_TIMEOUT', { timeoutMs }));
            run.abort();
          }, timeoutMs);
          // Stopping does not wait for a run that ignores its signal.
          signal.addEventListener('abort', () => reject(new Error('the controllers are stopping')), { once: true });
        }),
      ]);
      state.lastItems = Number.isFinite(items) ? items : 0;
      delete state.lastError;
      this.opts.metrics?.recordReconcile(c.name, (Date.now() - started) / 1000, 'success', state.lastItems);
      if (state.lastItems > 0) log.debug({ items: state.lastItems }, 'controller run finished');
    } catch (err) {
      // Ended by stop: not a failure of the controller.
      if (this.stopping.signal.aborted) return;
      state.errors++;
      state.lastError = errorText(err);
      this.opts.metrics?.recordReconcile(c.name, (Date.now() - started) / 1000, 'error');
      log.warn(errorLogFields(err), isCoreflowError(err, 'COREFLOW_ERR_RUN_TIMEOUT') ? 'controller run timed out' : 'controller run failed');
    } finally {
      clearTimeout(timer);
      run.abort();
      state.runs++;
      state.lastRunAt = new Date().toISOString();
      state.lastDurationMs = Date.now() - started;
    }
  }
}
