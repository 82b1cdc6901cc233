import type Docker from 'dockerode';
import type { RawTask } from '../docker/raw-types.ts';
import { errorLogFields } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { toRoutingTask } from './live-state.ts';

/** How often the number of swarm nodes is read again (a node joins or leaves rarely). */
const NODE_COUNT_EVERY_MS = 30_000;

export interface RemoteTaskWatchOptions {
  docker: Docker;
  /** The time between two looks at the task list. */
  intervalMs: number;
  /** The workload service IDs whose tasks matter (those of the last route table build). */
  serviceIds: () => Iterable<string>;
  /** Called when a task of those services appeared, went, changed state or address. */
  onChange: () => void;
  /** Aborts a look in flight when the routing stops. */
  signal: AbortSignal;
  log: Logger;
}

/**
 * This node's engine reports the container events of its own tasks only: a task that starts or
 * stops on another node shows in the swarm's task list and nowhere else. On a swarm of several
 * nodes this watch lists the wanted-running tasks of the routed services every `intervalMs` (one
 * Docker call) and calls `onChange` when their IDs, states or addresses differ from the last look.
 * On a one-node swarm it only reads the node count, every 30 s. A failed look is logged at debug
 * and the next one goes on; the periodic resync stays the safety net.
 */
export class RemoteTaskWatch {
  private timer: NodeJS.Timeout | undefined;
  private fingerprint: string | undefined;
  private nodes = { count: 0, readAt: -Infinity };
  private stopped = false;

  constructor(private readonly opts: RemoteTaskWatchOptions) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.look().finally(() => this.schedule()), this.opts.intervalMs);
  }

  private async look(): Promise<void> {
    const { docker, signal } = this.opts;
    try {
      if (Date.now() - this.nodes.readAt >= NODE_COUNT_EVERY_MS) {
        this.nodes = { count: (await docker.listNodes({ abortSignal: signal })).length, readAt: Date.now() };
      }
      const ids = [...this.opts.serviceIds()];
      if (this.nodes.count < 2 || ids.length === 0) {
        this.fingerprint = undefined;
        return;
      }
      const tasks = (await docker.listTasks({ filters: { 'desired-state': ['running'], service: ids }, abortSignal: signal })) as (RawTask & { ID: string })[];
      const fingerprint = tasks
        .map(toRoutingTask)
        .map((t) => `${t.id} ${t.state} ${Object.values(t.addresses).sort().join(',')}`)
        .sort()
        .join('\n');
      const changed = this.fingerprint !== undefined && fingerprint !== this.fingerprint;
      this.fingerprint = fingerprint;
      if (changed && !this.stopped) this.opts.onChange();
    } catch (err) {
      if (!this.stopped) this.opts.log.debug(errorLogFields(err), 'looking at the swarm\'s tasks failed; the next look retries');
    }
  }
}
