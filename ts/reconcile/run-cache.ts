/**
 * Reads shared by the steps of one run: the first step that lists networks (or services...) pays
 * for the call, later steps of the same run reuse the answer. Any write in the run clears it, so a
 * step never plans from a list that an earlier step's write made stale. Read failures are not
 * kept: the next step asks again.
 */
export class RunCache {
  private readonly entries = new Map<string, Promise<unknown>>();

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    let entry = this.entries.get(key) as Promise<T> | undefined;
    if (!entry) {
      entry = load();
      this.entries.set(key, entry);
      entry.catch(() => this.entries.delete(key));
    }
    return entry;
  }

  clear(): void {
    this.entries.clear();
  }
}
