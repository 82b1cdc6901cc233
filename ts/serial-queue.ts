/**
 * Runs tasks one at a time, in the order they were queued: two writes of one file never
 * interleave. A task that fails rejects its own promise only; the next task runs all the same.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every task queued so far has ended. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
