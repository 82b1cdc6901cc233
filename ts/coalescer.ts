interface Waiting<I, R> {
  items: I[];
  promise: Promise<R | undefined>;
  resolve: (result: R | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * Collapses triggers into runs of one task, one run at a time. A trigger starts a run after
 * `delayMs` (0: at once); every trigger that arrives before that run starts, or while a run goes,
 * joins the next run, which gets all their items. However many triggers arrive, at most one run
 * waits behind the current one, and it starts from the newest state since it reads that itself.
 * `trigger` resolves with the result of the run that covers it; a failing run rejects for the
 * triggers it covers and the next run goes on.
 */
export class Coalescer<I, R> {
  private running: Promise<void> | undefined;
  private waiting: Waiting<I, R> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly task: (items: I[]) => Promise<R>,
    private readonly opts: { delayMs?: number } = {},
  ) {}

  /** Whether a run is going on now. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Asks for a run; resolves undefined once stopped. */
  trigger(item: I): Promise<R | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    if (this.waiting) {
      this.waiting.items.push(item);
      return this.waiting.promise;
    }
    let resolve!: Waiting<I, R>['resolve'];
    let reject!: Waiting<I, R>['reject'];
    const promise = new Promise<R | undefined>((res, rej) => ((resolve = res), (reject = rej)));
    this.waiting = { items: [item], promise, resolve, reject };
    const delay = this.opts.delayMs ?? 0;
    if (delay > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.startWaiting();
      }, delay);
    } else this.startWaiting();
    return promise;
  }

  private startWaiting(): void {
    const w = this.waiting;
    if (!w || this.running || this.timer || this.stopped) return;
    this.waiting = undefined;
    // The run is over (busy false, the next one started) before its triggers hear the result.
    const settle = <V>(settleTrigger: (v: V) => void) => (v: V) => {
      this.running = undefined;
      this.startWaiting();
      settleTrigger(v);
    };
    this.running = (async () => this.task(w.items))().then(settle(w.resolve), settle(w.reject));
  }

  /** No run starts any more (the waiting triggers resolve undefined); resolves when the current run has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting?.resolve(undefined);
    this.waiting = undefined;
    await this.running;
  }
}
