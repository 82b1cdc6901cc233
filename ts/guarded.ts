/**
 * Calls a listener (a result listener, a run observer hook) so that nothing it throws escapes,
 * synchronously or as a rejected promise of an async listener: `failed` gets the error (and logs
 * it). A broken listener must never break the run that called it nor become an unhandled rejection.
 */
export function callGuarded(fn: () => unknown, failed: (err: unknown) => void): void {
  try {
    const out = fn();
    if (out instanceof Promise) out.catch(failed);
  } catch (err) {
    failed(err);
  }
}
