import { exponentialMs } from '../backoff.ts';
import type { Logger } from '../observe/logger.ts';
import type { RunResult } from './types.ts';

export interface RetryOptions {
  /** First delay; doubles per consecutive failure of the same object. */
  baseMs: number;
  /** Cap of the delay. */
  maxMs: number;
  /** Wakes the chain (the run retries every failed object; level-triggered). */
  trigger: (reason: string) => void;
  log: Logger;
}

/**
 * Retries transient failures with exponential backoff (capped), per object: an object that
 * failed n runs in a row is due again after base * 2^(n-1), capped; the chain is woken when the earliest
 * object is due. Success resets an object. Terminal failures (bad input: `terminal` results,
 * invalid records, guards) are not retried: they wait for the desired state to change. A step
 * that failed before planning (Docker unreachable) counts as one object `step/<kind>`.
 */
export class RetryScheduler {
  private readonly failures = new Map<string, { attempts: number; dueAt: number }>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: RetryOptions) {}

  /** Objects (`kind/name`) waiting for a retry. */
  get waiting(): ReadonlySet<string> {
    return new Set(this.failures.keys());
  }

  afterRun(result: RunResult, now = Date.now()): void {
    if (result.dryRun || this.stopped) return;
    const failing = new Set<string>();
    for (const step of result.steps) {
      const keys: string[] = [];
      if (step.actions.length === 0 && step.status === 'failed') keys.push(`step/${step.kind}`);
      for (const a of step.actions) if (a.status === 'failed' && !a.terminal) keys.push(`${a.kind}/${a.name}`);
      for (const key of keys) {
        failing.add(key);
        const attempts = (this.failures.get(key)?.attempts ?? 0) + 1;
        this.failures.set(key, { attempts, dueAt: now + exponentialMs(attempts - 1, this.opts.baseMs, this.opts.maxMs) });
      }
    }
    for (const key of this.failures.keys()) if (!failing.has(key)) this.failures.delete(key);
    this.schedule(now);
  }

  private schedule(now: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.failures.size === 0) return;
    let first: [string, { attempts: number; dueAt: number }] | undefined;
    for (const entry of this.failures) if (!first || entry[1].dueAt < first[1].dueAt) first = entry;
    const [key, f] = first!;
    const delay = Math.max(0, f.dueAt - now);
    this.opts.log.info({ object: key, attempt: f.attempts, retryInMs: delay }, 'transient failure; retrying with backoff');
    this.timer = setTimeout(() => this.opts.trigger(`retry ${key} (attempt ${f.attempts + 1})`), delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
