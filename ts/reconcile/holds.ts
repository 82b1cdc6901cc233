/**
 * Objects held back after an automatic rollback: by `kind/name`, the desired-state hash whose
 * update failed. The planner leaves such an object as it is while its desired hash is still the
 * held one; a new desired state (another hash) or an operator's release ends the hold.
 */
export class Holds {
  private readonly held = new Map<string, string>();

  hold(key: string, hash: string): void {
    this.held.set(key, hash);
  }

  /** The held hash of an object, if any. */
  get(key: string): string | undefined {
    return this.held.get(key);
  }

  /** Ends the hold; true when there was one. */
  release(key: string): boolean {
    return this.held.delete(key);
  }

  get keys(): ReadonlySet<string> {
    return new Set(this.held.keys());
  }
}
