import { inlineSpecReader, type SpecReader } from '../spec/off-thread-parser.ts';
import type { LoadedSpec } from '../spec/parse.ts';

export type DesiredListener = (loaded: LoadedSpec, origin: string) => void;

/**
 * The last good desired state. Sources offer documents; an offer only replaces the current one
 * after it validated (sources validate with `reader` before offering), and listeners hear of real
 * changes only.
 */
export class DesiredState {
  private current: LoadedSpec | undefined;
  private readonly listeners = new Set<DesiredListener>();

  /** How every source reads and validates documents: the agent's limits, off its main thread. */
  constructor(readonly reader: SpecReader = inlineSpecReader()) {}

  get(): LoadedSpec | undefined {
    return this.current;
  }

  /** Returns true when the document differs from the current one. */
  offer(loaded: LoadedSpec, origin: string): boolean {
    if (this.current?.hash === loaded.hash) return false;
    this.current = loaded;
    for (const l of this.listeners) l(loaded, origin);
    return true;
  }

  onChange(listener: DesiredListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
