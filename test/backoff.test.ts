import t from 'tap';
import { AUTH_RETRY_CAP_MS, authRetryDelay, backoffDelay, exponentialMs } from '../ts/backoff.ts';

t.test('exponential, capped, with jitter in [0.5, 1] of the step', async (t) => {
  const opts = { baseMs: 1000, capMs: 60_000 };
  t.same([0, 1, 2, 3, 10].map((a) => backoffDelay(a, opts, () => 0.9999999)), [1000, 2000, 4000, 8000, 60_000]);
  t.same([0, 1, 2, 3, 10].map((a) => backoffDelay(a, opts, () => 0)), [500, 1000, 2000, 4000, 30_000]);
  t.equal(backoffDelay(1000, opts, () => 1), 60_000, 'huge attempt counts stay at the cap');
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(4, opts);
    t.ok(d >= 8000 && d <= 16_000);
  }
});

t.test('the slow schedule after a refusal doubles up to 10 minutes', async (t) => {
  t.equal(authRetryDelay(0, 60_000, () => 1), 60_000);
  t.equal(authRetryDelay(1, 60_000, () => 1), 120_000);
  t.equal(authRetryDelay(20, 60_000, () => 1), AUTH_RETRY_CAP_MS);
});

t.test('exponentialMs doubles from the base and is capped', async (t) => {
  t.same([0, 1, 2, 3, 4, 9, 1000].map((n) => exponentialMs(n, 100, 1000)), [100, 200, 400, 800, 1000, 1000, 1000]);
});
