/**
 * What the steps of one run derive from the desired state (rendered Docker specs, secrets,
 * resolved registries): built once, by whichever step asks first, and read by the others. Unlike
 * RunCache it holds no live state, so writes never clear it; a new run starts with a new one.
 */
export class RunModel {
  private readonly values = new Map<string, unknown>();

  get<T>(key: string, build: () => T): T {
    if (!this.values.has(key)) this.values.set(key, build());
    return this.values.get(key) as T;
  }

  /** The value built under `key`, or undefined when none was yet. */
  peek<T>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }
}
