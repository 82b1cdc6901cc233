/**
 * The one exponential backoff of coreflow: `baseMs * 2^attempt` (attempt 0 is the first retry),
 * capped at `capMs`. Pure.
 */
export function exponentialMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/**
 * Reconnect delays: exponential from `baseMs`, capped at `capMs`, with jitter (a random factor in
 * [0.5, 1]) so many agents restarted together do not dial in lockstep. Pure given `random`.
 */
export function backoffDelay(attempt: number, opts: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  return Math.round(exponentialMs(attempt, opts.baseMs, opts.capMs) * (0.5 + random() * 0.5));
}

/** The slow schedule after a rejected token or protocol version: doubling from `firstMs` up to 10 minutes. */
export const AUTH_RETRY_CAP_MS = 10 * 60_000;

export function authRetryDelay(failures: number, firstMs: number, random: () => number = Math.random): number {
  return backoffDelay(failures, { baseMs: firstMs, capMs: Math.max(firstMs, AUTH_RETRY_CAP_MS) }, random);
}
