import { Coalescer } from '../coalescer.ts';
import type { DockerEvent, DockerEventSource } from '../docker/event-stream.ts';
import type { EventBus } from '../observe/events.ts';
import type { Logger } from '../observe/logger.ts';
import type { Controller } from './manager.ts';

export interface DriftOptions {
  /** The agent's shared Docker event stream. */
  events: DockerEventSource;
  log: Logger;
  /** The names (`service/web`, `network/x-gw`) of the objects coreflow owns now, from the last run. */
  owned: () => ReadonlySet<string>;
  /** Wakes the chain (level-triggered: the run itself finds and repairs what changed). */
  trigger: (reason: string) => void;
  /** Whether a run is going on now: events seen meanwhile are most likely our own writes. */
  busy: () => boolean;
  bus?: EventBus;
  /** Events within this window collapse into one trigger. Default 200 ms. */
  debounceMs?: number;
  intervalMs?: number;
}

/** The Docker object types drift follows. */
export const DRIFT_EVENT_TYPES = ['service', 'network', 'secret'];
const KIND_OF: Record<string, string> = { service: 'service', network: 'network', secret: 'secret' };
/** Changes to the object itself; not network connect/disconnect (every task start and stop). */
const CHANGE_ACTIONS = new Set(['create', 'update', 'remove', 'destroy']);

/**
 * Drift: follows the Docker event stream and wakes the chain when an object coreflow owns is
 * changed or removed outside coreflow (`docker service rm`, `docker service update`), so it is
 * restored within seconds instead of at the next scheduled resync. Events name objects, so
 * ownership is decided by name against what the last run owned. Events of our own writes also
 * wake the chain; that follow-up run is a no-op (list calls only), which ends the loop. After
 * the stream reconnects (events may have been missed) the chain is woken as well.
 *
 * As a controller its reconcile returns how many relevant events it saw since the last one.
 */
export class DriftController implements Controller {
  readonly name = 'drift';
  readonly intervalMs: number;
  private unsubscribe: (() => void) | undefined;
  /** Wakes within the debounce window collapse into one trigger. */
  private readonly wakes: Coalescer<string, void>;
  private seen = 0;

  constructor(private readonly opts: DriftOptions) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.wakes = new Coalescer(
      async (reasons) => {
        const why = [...new Set(reasons)].join(', ');
        this.opts.log.info({ why }, 'drift: waking the chain');
        this.opts.trigger(why);
      },
      { delayMs: opts.debounceMs ?? 200 },
    );
  }

  async start(): Promise<void> {
    this.unsubscribe = this.opts.events.subscribe({
      onEvent: (e) => this.onEvent(e),
      onReconnect: () => this.wake('Docker event stream reconnected'),
    });
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.wakes.stop();
  }

  async reconcile(): Promise<number> {
    const n = this.seen;
    this.seen = 0;
    return n;
  }

  /** Public for tests: handles one Docker event. */
  onEvent(e: DockerEvent): void {
    const kind = KIND_OF[e.Type];
    const name = e.Actor.Attributes?.name;
    if (!kind || !name || !CHANGE_ACTIONS.has(e.Action)) return;
    // A node instantiates an overlay network (local create/destroy) whenever a task on it starts
    // or stops: a crash-looping service would wake the chain on every restart. The swarm objects
    // coreflow owns change only in swarm-scoped events.
    if (e.scope === 'local') return;
    if (!this.opts.owned().has(`${kind}/${name}`)) return;
    this.seen++;
    const outOfBand = !this.opts.busy();
    if (outOfBand && (e.Action === 'remove' || e.Action === 'destroy')) {
      this.opts.bus?.emit({ type: 'drift.detected', resourceType: 'drift', kind, name, summary: `${kind} ${name} was removed outside coreflow` });
    }
    this.wake(`${kind} ${name} ${e.Action} (Docker event)`);
  }

  private wake(reason: string): void {
    void this.wakes.trigger(reason);
  }
}
