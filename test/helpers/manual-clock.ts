import type { LeaseClock } from '../../ts/lease/swarm-lease.ts';

/**
 * A clock that moves only when the test says so: `sleep` resolves once `advance` has moved the
 * time past its deadline (or its signal aborts). `sleepers` tells a test that a loop is waiting.
 */
export class ManualClock implements LeaseClock {
  private t: number;
  private readonly waiting = new Set<{ at: number; resolve: () => void }>();

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  get sleepers(): number {
    return this.waiting.size;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const w = { at: this.t + ms, resolve: () => (this.waiting.delete(w), resolve()) };
      this.waiting.add(w);
      signal.addEventListener('abort', () => w.resolve(), { once: true });
    });
  }

  advance(ms: number): void {
    this.t += ms;
    for (const w of [...this.waiting]) if (w.at <= this.t) w.resolve();
  }
}
