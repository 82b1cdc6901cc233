import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorText } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { SerialQueue } from '../serial-queue.ts';

/**
 * Objects an operator suspended at run time (`kind/name` keys), kept in `suspended.json` in the
 * state directory so that a restart keeps them suspended. Writes go one at a time in call order.
 */
export class Suspensions {
  private keys = new Set<string>();
  private readonly writes = new SerialQueue();
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'suspended.json');
  }

  /** Reads the file; a missing one is no suspension, an unreadable one is reported and ignored. */
  async load(): Promise<string | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as unknown;
      const list = (parsed as { suspended?: unknown }).suspended;
      if (Array.isArray(list)) this.keys = new Set(list.filter((k): k is string => typeof k === 'string'));
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return errorText(err);
    }
  }

  get current(): ReadonlySet<string> {
    return this.keys;
  }

  /**
   * Suspends (true) or resumes (false) `key`; resolves once saved, with whether it changed. A
   * failed write (COREFLOW_ERR_STATE_WRITE) leaves the suspensions as they were.
   */
  async set(key: string, suspended: boolean): Promise<boolean> {
    return this.writes.run(async () => {
      if (this.keys.has(key) === suspended) return false;
      const next = new Set(this.keys);
      if (suspended) next.add(key);
      else next.delete(key);
      await writeFileAtomic(this.path, `${JSON.stringify({ suspended: [...next].sort() }, null, 2)}\n`);
      this.keys = next;
      return true;
    });
  }
}
