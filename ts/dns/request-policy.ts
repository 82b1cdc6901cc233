import { setTimeout as delay } from 'node:timers/promises';
import { exponentialMs } from '../backoff.ts';

/**
 * Spaces requests at least `minIntervalMs` apart (one shared clock for every caller), so a big
 * plan never bursts past the provider's rate limit (Cloudflare: 1200 requests per 5 minutes
 * per user, i.e. 4 per second). Waiting honours the run's abort signal.
 */
export class RateLimiter {
  private next = 0;

  constructor(private readonly minIntervalMs: number) {}

  async take(signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + this.minIntervalMs;
    if (at > now) await delay(at - now, undefined, signal ? { signal } : {});
  }
}

/** What to do after a failed attempt: wait and retry, or give up with the error. */
export type RetryDecision = { retry: true; waitMs: number; why: string } | { retry: false };

export interface RetryPolicy {
  /** Attempts in all (the first included). */
  maxAttempts: number;
  /** A 429 asking to wait longer than this is not waited for: the request fails with the API's message. */
  maxRetryAfterMs: number;
  /** First backoff for 5xx and connection errors; doubles per attempt, capped at 8 s. */
  baseBackoffMs: number;
}

/**
 * Pure. 429: retry after the server's Retry-After (seconds) when it is within the cap; 5xx and
 * no response at all (connection refused, reset, timeout): exponential backoff; anything else
 * (400 bad record, 401/403 auth, 404) is final: retrying cannot fix it.
 */
export function decideRetry(policy: RetryPolicy, attempt: number, status: number | undefined, retryAfter: string | null | undefined): RetryDecision {
  if (attempt >= policy.maxAttempts) return { retry: false };
  const backoff = exponentialMs(attempt - 1, policy.baseBackoffMs, 8000);
  if (status === 429) {
    const seconds = retryAfter ? Number(retryAfter) : NaN;
    const waitMs = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : backoff;
    if (waitMs > policy.maxRetryAfterMs) return { retry: false };
    return { retry: true, waitMs, why: 'rate limited (429)' };
  }
  if (status === undefined) return { retry: true, waitMs: backoff, why: 'no response' };
  if (status >= 500) return { retry: true, waitMs: backoff, why: `server error (${status})` };
  return { retry: false };
}
