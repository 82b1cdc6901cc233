import { exponentialMs } from '../backoff.ts';
import type { ErrorCode } from '../errors.ts';
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
  /** After this many failed runs in a row an object is not retried until its desired state changes or `retry(key)`; 0: no limit. */
  maxAttempts?: number;
  /** Told once when an object's retries stop (to report it). */
  onGiveUp?: (key: string, attempts: number, code: ErrorCode | undefined) => void;
}

/** How many runs in a row an object may fail with COREFLOW_ERR_UNEXPECTED before backoff retries stop. */
export const UNEXPECTED_ATTEMPTS = 3;

interface Failure {
  attempts: number;
  dueAt: number;
  /** The desired state the failures were counted on: a new one starts the count again. */
  specHash: string;
  /** Failed with an unknown error UNEXPECTED_ATTEMPTS times: no more backoff retries. */
  gaveUp: boolean;
}

/**
 * Retries transient failures with exponential backoff (capped), per object: an object that
 * failed n runs in a row is due again after base * 2^(n-1), capped; the chain is woken when the earliest
 * object is due. Success, or a new desired state, resets an object. Terminal failures (bad input:
 * `terminal` results, invalid records, guards) are not retried: they wait for the desired state to
 * change. An unknown error (COREFLOW_ERR_UNEXPECTED: a bug or an unknown library failure) may be
 * transient, so it is retried like one, but only UNEXPECTED_ATTEMPTS runs in a row: then the object
 * waits for the desired state to change (or the next resync or drift run). So does any object that
 * failed `maxAttempts` runs in a row, until its desired state changes or an operator calls
 * `reset` (`coreflow retry`). A step that failed
 * before planning (Docker unreachable) counts as one object `step/<kind>`.
 */
export class RetryScheduler {
  private readonly failures = new Map<string, Failure>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: RetryOptions) {}

  /** Objects (`kind/name`) waiting for a retry. */
  get waiting(): ReadonlySet<string> {
    return new Set([...this.failures].filter(([, f]) => !f.gaveUp).map(([key]) => key));
  }

  /** Objects whose retries stopped, with their failed attempts in a row. */
  get stalled(): ReadonlyMap<string, number> {
    return new Map([...this.failures].filter(([, f]) => f.gaveUp).map(([key, f]) => [key, f.attempts]));
  }

  /** An operator's retry: forgets the object's failures (its count starts again); true when it had any. */
  reset(key: string): boolean {
    return this.failures.delete(key);
  }

  afterRun(result: RunResult, now = Date.now()): void {
    if (result.dryRun || this.stopped) return;
    const failing = new Set<string>();
    for (const step of result.steps) {
      const keys: [string, ErrorCode | undefined][] = [];
      if (step.actions.length === 0 && step.status === 'failed') keys.push([`step/${step.kind}`, step.code]);
      for (const a of step.actions) if (a.status === 'failed' && !a.terminal) keys.push([`${a.kind}/${a.name}`, a.code]);
      for (const [key, code] of keys) {
        failing.add(key);
        const before = this.failures.get(key);
        const attempts = (before?.specHash === result.specHash ? before.attempts : 0) + 1;
        const max = this.opts.maxAttempts ?? 0;
        const gaveUp = (code === 'COREFLOW_ERR_UNEXPECTED' && attempts >= UNEXPECTED_ATTEMPTS) || (max > 0 && attempts >= max);
        if (gaveUp && !before?.gaveUp) {
          this.opts.log.warn({ object: key, attempts, code }, 'failed again; no more retries until the desired state changes or an operator asks (coreflow retry)');
          this.opts.onGiveUp?.(key, attempts, code);
        }
        this.failures.set(key, { attempts, dueAt: now + exponentialMs(attempts - 1, this.opts.baseMs, this.opts.maxMs), specHash: result.specHash, gaveUp });
      }
    }
    for (const key of this.failures.keys()) if (!failing.has(key)) this.failures.delete(key);
    this.schedule(now);
  }

  private schedule(now: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let first: [string, Failure] | undefined;
    for (const entry of this.failures) if (!entry[1].gaveUp && (!first || entry[1].dueAt < first[1].dueAt)) first = entry;
    if (!first) return;
    const [key, f] = first;
    const delay = Math.max(0, f.dueAt - now);
    this.opts.log.info({ object: key, attempt: f.attempts, retryInMs: delay }, 'transient failure; retrying with backoff');
    this.timer = setTimeout(() => this.opts.trigger(`retry ${key} (attempt ${f.attempts + 1})`), delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
